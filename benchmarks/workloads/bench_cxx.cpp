// bench_cxx.cpp - a C++ workload of std::map, std::string and std::vector: an
// index from words to the documents they occur in, built, queried, pruned and
// rebuilt. Every container uses a counting allocator that calls the global
// operator new/delete (sized), so allocations go through the allocator's C++
// entry points and are counted by the program. Self-check: the postings total
// equals the number of insertions minus removals, and every posting list is
// sorted. Usage: bench_cxx [SCALE]
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <vector>

extern "C" {
#include <dlfcn.h>
}

namespace {

struct Counts {
    uint64_t allocs = 0, bytes = 0, frees = 0;
};
Counts counts;

template <typename T> struct Counting {
    using value_type = T;
    Counting() = default;
    template <typename U> Counting(const Counting<U> &) {}
    T *allocate(std::size_t n) {
        counts.allocs++;
        counts.bytes += n * sizeof(T);
        return static_cast<T *>(::operator new(n * sizeof(T)));
    }
    void deallocate(T *p, std::size_t n) {
        counts.frees++;
        ::operator delete(p, n * sizeof(T));
    }
    template <typename U> bool operator==(const Counting<U> &) const { return true; }
    template <typename U> bool operator!=(const Counting<U> &) const { return false; }
};

using String = std::basic_string<char, std::char_traits<char>, Counting<char>>;
using Postings = std::vector<uint32_t, Counting<uint32_t>>;
using Index = std::map<String, Postings, std::less<String>, Counting<std::pair<const String, Postings>>>;

struct Rng {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    uint64_t below(uint64_t bound) { return next() % bound; }
};

// Words long enough to leave the small-string buffer half the time.
String make_word(Rng &rng) {
    uint64_t id = rng.below(40000);
    String word("w");
    word += std::to_string(id).c_str();
    if (id % 2)
        word.append(12 + id % 20, static_cast<char>('a' + id % 26));
    return word;
}

struct Totals {
    uint64_t alloc_count, alloc_bytes, free_count, free_bytes, live_count, live_bytes, peak, untracked;
};
using TotalsFn = void (*)(Totals *);

} // namespace

int main(int argc, char **argv) {
    double scale = argc > 1 ? std::atof(argv[1]) : 1.0;
    if (!(scale > 0 && scale <= 100)) {
        std::fprintf(stderr, "scale must be in (0, 100]\n");
        return 2;
    }
    uint32_t documents = static_cast<uint32_t>(9000 * scale);
    auto totals = reinterpret_cast<TotalsFn>(dlsym(RTLD_DEFAULT, "rallo_get_totals"));
    Totals before{}, after{};
    if (totals)
        totals(&before);

    Rng rng{0xc0ffeeull};
    uint64_t inserted = 0, removed = 0, checksum = 0;
    bool ok = true;
    {
        Index index;
        for (uint32_t doc = 0; doc < documents; doc++) {
            uint64_t words = 50 + rng.below(100);
            for (uint64_t w = 0; w < words; w++) {
                Postings &list = index[make_word(rng)];
                if (list.empty() || list.back() != doc) {
                    list.push_back(doc);
                    inserted++;
                }
            }
            // Every 500 documents: drop the oldest postings of rare words and
            // erase words left empty, like an index compaction.
            if (doc % 500 == 499) {
                for (auto it = index.begin(); it != index.end();) {
                    Postings &list = it->second;
                    if (list.size() < 8) {
                        removed += list.size();
                        it = index.erase(it);
                    } else {
                        Postings kept(list.begin() + static_cast<long>(list.size() / 4), list.end());
                        removed += list.size() - kept.size();
                        list.swap(kept);
                        ++it;
                    }
                }
            }
        }
        uint64_t postings = 0;
        for (const auto &[word, list] : index) {
            postings += list.size();
            for (size_t i = 1; i < list.size(); i++)
                ok &= list[i - 1] < list[i];
            checksum = checksum * 31 + word.size() + list.size();
        }
        ok &= postings == inserted - removed;
    }
    if (totals)
        totals(&after);
    char rallo[160] = "rallo=n/a";
    if (totals)
        std::snprintf(rallo, sizeof rallo, "rallo_allocs=%llu rallo_bytes=%llu rallo_untracked=%llu",
                      static_cast<unsigned long long>(after.alloc_count - before.alloc_count),
                      static_cast<unsigned long long>(after.alloc_bytes - before.alloc_bytes),
                      static_cast<unsigned long long>(after.untracked - before.untracked));
    std::printf("BENCH name=cxx ok=%d checksum=%016llx allocs=%llu bytes=%llu frees=%llu %s\n", ok ? 1 : 0,
                static_cast<unsigned long long>(checksum), static_cast<unsigned long long>(counts.allocs),
                static_cast<unsigned long long>(counts.bytes), static_cast<unsigned long long>(counts.frees),
                rallo);
    return ok ? 0 : 1;
}
