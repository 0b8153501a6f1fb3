/* known_sites.h - the known sites' sizes, shared with nobody but the checker,
 * which repeats them (check_known_sites.py). */
#ifndef RALLO_TEST_KNOWN_SITES_H
#define RALLO_TEST_KNOWN_SITES_H
#define A_BLOCKS 100
#define A_SIZE 48
#define B_STEPS 10
#define C_BLOCKS 64
#define C_SIZE 200
#define C_FREED 40
#define E_BLOCKS 1000
#define E_SIZE 10000
#define F_BLOCKS 300
#endif
