// new-forms.cpp - every C++ operator new and delete form, called explicitly,
// wrapped for the C tests (entry-points.h).
#include <cstdlib>
#include <new>

#include "entry-points.h"

extern "C" bool test_new_is_aligned_form(int form) {
    return form >= NEW_ALIGNED;
}

extern "C" void *test_new(int form, size_t size, size_t alignment) {
    std::align_val_t al{alignment};
    void *p = nullptr;
    switch (form) {
    case NEW_PLAIN: p = ::operator new(size); break;
    case NEW_ARRAY: p = ::operator new[](size); break;
    case NEW_NOTHROW: p = ::operator new(size, std::nothrow); break;
    case NEW_ARRAY_NOTHROW: p = ::operator new[](size, std::nothrow); break;
    case NEW_ALIGNED: p = ::operator new(size, al); break;
    case NEW_ARRAY_ALIGNED: p = ::operator new[](size, al); break;
    case NEW_ALIGNED_NOTHROW: p = ::operator new(size, al, std::nothrow); break;
    case NEW_ARRAY_ALIGNED_NOTHROW: p = ::operator new[](size, al, std::nothrow); break;
    }
    escape(p);
    return p;
}

static void delete_scalar(int delete_form, void *p, size_t size, std::align_val_t al, bool aligned) {
    if (!aligned) {
        switch (delete_form % 3) {
        case 0: ::operator delete(p); return;
        case 1: ::operator delete(p, size); return;
        default: ::operator delete(p, std::nothrow); return;
        }
    }
    switch (delete_form % 3) {
    case 0: ::operator delete(p, al); return;
    case 1: ::operator delete(p, size, al); return;
    default: ::operator delete(p, al, std::nothrow); return;
    }
}

static void delete_array(int delete_form, void *p, size_t size, std::align_val_t al, bool aligned) {
    if (!aligned) {
        switch (delete_form % 3) {
        case 0: ::operator delete[](p); return;
        case 1: ::operator delete[](p, size); return;
        default: ::operator delete[](p, std::nothrow); return;
        }
    }
    switch (delete_form % 3) {
    case 0: ::operator delete[](p, al); return;
    case 1: ::operator delete[](p, size, al); return;
    default: ::operator delete[](p, al, std::nothrow); return;
    }
}

extern "C" void test_delete(int new_form, int delete_form, void *p, size_t size, size_t alignment) {
    bool array = new_form == NEW_ARRAY || new_form == NEW_ARRAY_NOTHROW || new_form == NEW_ARRAY_ALIGNED ||
                 new_form == NEW_ARRAY_ALIGNED_NOTHROW;
    bool aligned = test_new_is_aligned_form(new_form);
    if (array)
        delete_array(delete_form, p, size, std::align_val_t{alignment}, aligned);
    else
        delete_scalar(delete_form, p, size, std::align_val_t{alignment}, aligned);
}

extern "C" bool test_new_throws_bad_alloc(size_t size, bool aligned) {
    try {
        void *p = aligned ? ::operator new (size, std::align_val_t{64}) : ::operator new(size);
        escape(p);
        return false;
    } catch (const std::bad_alloc &) {
        return true;
    }
}

static int handler_calls;
static void handler_once() {
    handler_calls++;
    std::set_new_handler(nullptr);
}

extern "C" int test_new_handler_calls(size_t size) {
    handler_calls = 0;
    std::set_new_handler(handler_once);
    try {
        void *p = ::operator new(size);
        escape(p);
    } catch (const std::bad_alloc &) {
        return handler_calls;
    }
    std::set_new_handler(nullptr);
    return -1;
}
