/* anon.c - see anon.h. */
#include "anon.h"

#include <sys/mman.h>

void *s2s__anon_alloc(size_t n)
{
	if (n == 0)
		return NULL;
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void s2s__anon_seal(void *p, size_t n)
{
	if (p && n)
		(void)mprotect(p, n, PROT_READ); /* best effort: a failure leaves it writable */
}

void s2s__anon_free(void *p, size_t n)
{
	if (p && n)
		munmap(p, n);
}
