// cu_gap_fixture.cpp - a C++ program built -O2 -g whose .text has bytes no
// function covers (the padding GCC leaves after main's hot part, before the
// next function): check_cu_ranges.py symbolizes every address of its .text.
#include <string>
#include <vector>

std::vector<std::string> kept;

int main(int argc, char **argv) {
    for (int i = 0; i < 100 + argc; i++)
        kept.push_back(std::string(100, argv[0][0]));
    return static_cast<int>(kept.size() & 1);
}
