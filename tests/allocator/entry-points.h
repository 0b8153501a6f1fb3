/* entry-points.h - the allocation symbols librallo defines that glibc's headers
 * do not declare (BSD, macOS, Windows and glibc-internal names), and the C++
 * operator forms, wrapped in C by new-forms.cpp, so the C tests can call them. */
#ifndef RALLO_TEST_ENTRY_POINTS_H
#define RALLO_TEST_ENTRY_POINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rallo.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The C names, as librallo declares them for itself. */
#include "../../allocator/entry-points.h"

/* new-forms.cpp: form is one of the NEW_* values; delete_form one of DELETE_*. */
enum {
    NEW_PLAIN,
    NEW_ARRAY,
    NEW_NOTHROW,
    NEW_ARRAY_NOTHROW,
    NEW_ALIGNED,
    NEW_ARRAY_ALIGNED,
    NEW_ALIGNED_NOTHROW,
    NEW_ARRAY_ALIGNED_NOTHROW,
    NEW_FORMS
};
enum {
    DELETE_PLAIN,
    DELETE_SIZED,
    DELETE_NOTHROW,
    DELETE_ALIGNED,
    DELETE_SIZED_ALIGNED,
    DELETE_ALIGNED_NOTHROW,
    DELETE_FORMS
};
void *test_new(int form, size_t size, size_t alignment);
/* Frees with a delete form that matches how the block was made (array or not,
 * aligned or not). */
void test_delete(int new_form, int delete_form, void *p, size_t size, size_t alignment);
bool test_new_is_aligned_form(int form);
/* operator new(size) of an impossible size: true when it threw std::bad_alloc. */
bool test_new_throws_bad_alloc(size_t size, bool aligned);
/* With a new-handler installed that uninstalls itself: how often it was called
 * before std::bad_alloc came out (-1: no exception). */
int test_new_handler_calls(size_t size);

/* Keeps the compiler from eliding an allocation whose result is unused. */
static inline void escape(void *p) {
    __asm__ volatile("" : : "r"(p) : "memory");
}

#ifdef __cplusplus
}
#endif
#endif
