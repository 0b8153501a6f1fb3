// cxx-program.cpp - a C++ program of ours for the real-programs test: every
// operator new/delete form (plain, array, nothrow, sized, align_val_t and
// their combinations, called by new-expressions as a compiler emits them) and
// the standard containers, across two threads. Prints only deterministic
// figures, so its output with and without librallo preloaded must match.
#include <cstdint>
#include <cstdio>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <new>
#include <numeric>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

struct alignas(256) Wide {
    uint64_t values[40];
};
struct alignas(64) Line {
    uint64_t value;
};
struct Plain {
    uint64_t a, b;
    virtual ~Plain() = default;
};
struct Derived : Plain {
    std::string name;
};

static uint64_t mix(uint64_t h, uint64_t v) {
    return (h ^ v) * 0x100000001b3ull;
}

static uint64_t exercise_forms(int round) {
    uint64_t h = 0xcbf29ce484222325ull;
    int *one = new int(round);                    // _Znwm, sized delete _ZdlPvm
    int *many = new int[100 + round];             // _Znam, _ZdaPv
    int *maybe = new (std::nothrow) int(7);       // nothrow
    int *maybe_many = new (std::nothrow) int[33]; // nothrow array
    Wide *wide = new Wide();                      // align_val_t, sized aligned delete
    Wide *wides = new Wide[3];                    // array align_val_t
    Line *line = new (std::nothrow) Line{42};     // align_val_t nothrow
    Line *lines = new (std::nothrow) Line[5];     // array align_val_t nothrow
    Plain *poly = new Derived();                  // virtual destructor: sized delete through the base
    for (int i = 0; i < 100 + round; i++)
        many[i] = i * round;
    wide->values[39] = 39;
    wides[2].values[0] = 2;
    h = mix(h, (uint64_t)*one + (uint64_t)many[99] + (uint64_t)*maybe + wide->values[39] +
                   wides[2].values[0] + line->value + ((uintptr_t)wide % 256) + ((uintptr_t)line % 64));
    maybe_many[32] = 1;
    lines[4].value = 4;
    h = mix(h, (uint64_t)maybe_many[32] + lines[4].value);
    delete one;
    delete[] many;
    delete maybe;
    delete[] maybe_many;
    delete wide;
    delete[] wides;
    delete line;
    delete[] lines;
    delete poly;
    // The explicit forms, sized and nothrow deletes included.
    void *raw = ::operator new(100);
    ::operator delete(raw, 100);
    raw = ::operator new[](100);
    ::operator delete[](raw, 100);
    raw = ::operator new (100, std::align_val_t{4096});
    h = mix(h, (uintptr_t)raw % 4096);
    ::operator delete (raw, std::align_val_t{4096}, std::nothrow);
    raw = ::operator new[](100, std::align_val_t{128}, std::nothrow);
    ::operator delete[](raw, 100, std::align_val_t{128});
    raw = ::operator new(10, std::nothrow);
    ::operator delete(raw, std::nothrow);
    raw = ::operator new[](10, std::nothrow);
    ::operator delete[](raw, std::nothrow);
    raw = ::operator new[](10, std::align_val_t{32});
    ::operator delete[](raw, std::align_val_t{32}, std::nothrow);
    return h;
}

static uint64_t exercise_containers(int seed) {
    std::map<std::string, std::vector<int>> by_name;
    std::unordered_map<int, std::string> by_id;
    std::set<std::string> names;
    std::deque<std::shared_ptr<Derived>> queue;
    std::list<std::unique_ptr<Wide>> wides;
    for (int i = 0; i < 20000; i++) {
        std::string name = "name-" + std::to_string((i * 7919 + seed) % 5003);
        by_name[name].push_back(i);
        by_id[i % 4001] += name.substr(0, 6);
        names.insert(name);
        auto d = std::make_shared<Derived>();
        d->name = name;
        queue.push_back(d);
        if (queue.size() > 100)
            queue.pop_front();
        if (i % 100 == 0)
            wides.push_back(std::make_unique<Wide>());
    }
    uint64_t h = 0;
    for (auto &[name, ids] : by_name)
        h = mix(h, name.size() * 31 + std::accumulate(ids.begin(), ids.end(), 0ull));
    for (int i = 0; i < 4001; i++)
        h = mix(h, by_id[i].size());
    h = mix(h, names.size());
    h = mix(h, queue.back()->name.size() + wides.size());
    std::vector<std::string> grow;
    for (int i = 0; i < 5000; i++)
        grow.emplace_back(std::string(i % 300, 'x'));
    grow.shrink_to_fit();
    h = mix(h, grow.size() + grow.back().size());
    return h;
}

int main() {
    uint64_t forms = 0;
    for (int round = 0; round < 200; round++)
        forms = mix(forms, exercise_forms(round));
    std::printf("forms %016llx\n", (unsigned long long)forms);
    uint64_t results[2] = {0, 0};
    std::thread other([&] { results[1] = exercise_containers(2); });
    results[0] = exercise_containers(1);
    other.join();
    std::printf("containers %016llx %016llx\n", (unsigned long long)results[0],
                (unsigned long long)results[1]);
    // new of an impossible size throws std::bad_alloc, as the standard says.
    try {
        volatile size_t huge = SIZE_MAX / 4;
        char *p = new char[huge];
        std::printf("no bad_alloc %p\n", (void *)p);
    } catch (const std::bad_alloc &) {
        std::printf("bad_alloc caught\n");
    }
    return 0;
}
