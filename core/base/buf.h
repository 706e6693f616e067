/*
 * buf.h — growable memory: arrays of any element type, and byte strings.
 *
 * Arrays. A growable array is a pointer, a count and a capacity kept by its owner; this
 * header only grows it:
 *
 *	struct list { uint64_t *ino; size_t n, cap; } l = { 0 };
 *	if (BUF_GROW(&l.ino, &l.cap, l.n + 1))
 *		return ENOMEM;
 *	l.ino[l.n++] = ino;
 *
 * The capacity doubles (from BUF_MIN_CAP elements), so n appends cost O(n). The owner
 * frees the array with free(). Elements past the old capacity are not initialized.
 *
 * Byte strings. struct buf is a NUL-terminated byte string that grows as it is
 * appended to. An allocation failure sets oom and turns every later append into a
 * no-op, so a builder checks once at the end (buf_done, or oom). Zero-initialized
 * ({ 0 } or BUF_INIT) it is empty and owns nothing.
 *
 * Neither is thread-safe: callers hold whatever protects the memory.
 */
#ifndef S3F_BUF_H
#define S3F_BUF_H

#include <stdbool.h>
#include <stddef.h>

#define BUF_MIN_CAP 16

/* Make room for at least need elements of elem bytes in the array *arrp (a pointer to
 * the array's pointer, of any object type) of *cap elements. 0 (*arrp and *cap updated
 * when it grew), or ENOMEM: out of memory, or need * elem does not fit in a size_t;
 * *arrp and *cap are then unchanged and the array is still the owner's. */
int buf_grow(void *arrp, size_t *cap, size_t need, size_t elem);
/* buf_grow with the element size taken from the array's type. */
#define BUF_GROW(arrp, capp, need) buf_grow((arrp), (capp), (need), sizeof **(arrp))

struct buf {
	char *p;		/* NULL until the first append; then NUL-terminated */
	size_t len;		/* bytes, without the NUL */
	size_t cap;
	bool oom;		/* an append failed: the contents are incomplete */
};

#define BUF_INIT { NULL, 0, 0, false }

/* Room for `more` bytes after len (and the NUL). false (oom set) if it cannot be made. */
bool buf_reserve(struct buf *b, size_t more);
void buf_add(struct buf *b, const void *s, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hand over the string: 0 and *out (the caller frees it; "" for an empty buffer), or
 * ENOMEM (an append failed; *out NULL). Either way b is empty afterwards. */
int buf_done(struct buf *b, char **out);
/* Free the contents; b is empty (and not oom) afterwards. */
void buf_free(struct buf *b);

#endif
