/* inline_fixture.h - functions with known symbols for test_symbolize. */
#ifndef RALLO_TEST_INLINE_FIXTURE_H
#define RALLO_TEST_INLINE_FIXTURE_H
#include <stdint.h>
uintptr_t leaf_capture(void);
uintptr_t outer_function(void);
uintptr_t plain_caller(void);
#endif
