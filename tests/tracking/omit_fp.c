/* omit_fp.c - built with -fomit-frame-pointer -mno-red-zone: calls malloc with
 * rbp holding garbage, as code that uses rbp as a general register does. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

void *clobbered_rbp_malloc(size_t size, uintptr_t garbage);

#if defined(__x86_64__)
__attribute__((noinline)) void *clobbered_rbp_malloc(size_t size, uintptr_t garbage) {
    void *result;
    /* Save rbp, align the stack (the compiler does not know about the call),
     * load the garbage into rbp, call malloc, restore. rbx (callee-saved, so
     * malloc keeps it) holds the old stack pointer. */
    __asm__ volatile("push %%rbp\n\t"
                     "mov %%rsp, %%rbx\n\t"
                     "and $-16, %%rsp\n\t"
                     "mov %[garbage], %%rbp\n\t"
                     "call malloc@PLT\n\t"
                     "mov %%rbx, %%rsp\n\t"
                     "pop %%rbp\n\t"
                     : "=a"(result), "+D"(size)
                     : [garbage] "r"(garbage)
                     : "rbx", "rsi", "rdx", "rcx", "r8", "r9", "r10", "r11", "memory", "cc", "xmm0", "xmm1",
                       "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
                       "xmm12", "xmm13", "xmm14", "xmm15");
    return result;
}
#else
void *clobbered_rbp_malloc(size_t size, uintptr_t garbage) {
    (void)garbage;
    return malloc(size);
}
#endif
