/* tap.h: a tiny TAP producer for the C unit tests (automake's tap-driver reads it). */
#ifndef NB_TAP_H
#define NB_TAP_H
#include <string.h>

int	tap_ok(int, const char *, int, const char *, ...) __attribute__((__format__(__printf__, 4, 5)));
int	tap_done(void);
int	tap_rmtree(const char *);
char	*tap_fixture(const char *, size_t *);
void	tap_diag(const char *, ...) __attribute__((__format__(__printf__, 1, 2)));

#define ok(cond, ...)		tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(a, b, ...)	do { long long _a = (a), _b = (b);		\
	if (!tap_ok(_a == _b, __FILE__, __LINE__, __VA_ARGS__))			\
		tap_diag("   got: %lld\n  want: %lld", _a, _b); } while (0)
#define is_str(a, b, ...)	do { const char *_a = (a), *_b = (b);		\
	if (!tap_ok(_a != NULL && _b != NULL && strcmp(_a, _b) == 0,		\
	    __FILE__, __LINE__, __VA_ARGS__))					\
		tap_diag("   got: '%s'\n  want: '%s'", _a ? _a : "(null)",	\
		    _b ? _b : "(null)"); } while (0)
#define has_str(hay, needle, ...) do { const char *_h = (hay), *_n = (needle);	\
	if (!tap_ok(_h != NULL && strstr(_h, _n) != NULL,			\
	    __FILE__, __LINE__, __VA_ARGS__))					\
		tap_diag("   got: '%s'\n  want it to contain: '%s'",		\
		    _h ? _h : "(null)", _n); } while (0)
#endif
