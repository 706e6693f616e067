/*
 * conf.c — see conf.h.
 *
 * Two stages. The parser turns the text (and every %include'd file) into a tree of
 * blocks and statements, each node carrying its file and line; it knows nothing about
 * settings. The binder walks the tree with one table per block kind (conf_*_items
 * below) and fills struct conf. Keeping them apart keeps the grammar honest: what is
 * a syntax error here is exactly what is a syntax error for ganesha, whatever the key.
 *
 * Why the lexer is so picky about unquoted values: s3files does not get its own file,
 * it shares ganesha.conf, and ganesha 4.3 (src/config_parsing/conf_lex.l) only accepts
 * an unquoted value that is one of its token classes (name, number, path, address,
 * netgroup, glob). `Part_Size = 64M;` lexes there as the number 64 followed by the name
 * M: ganesha logs a syntax error and silently drops the statement; an unquoted URL
 * (`http://h:80`) is a fatal scan error. If we accepted those, the daemon or a config
 * check would bless a file ganesha refuses or half-reads, so we reject them the same way and
 * say "put it in double quotes". conf_word_ok() reproduces ganesha's token classes;
 * it was checked against the parser in libganesha_nfsd (config_ParseFile).
 *
 * Other ganesha behaviours kept on purpose (each checked against config_ParseFile, also by
 * differential runs over fuzzer- and grammar-generated files):
 *  - names are case-insensitive; a statement must end with ';'; `Key = ;` means unset;
 *    one leading ',' is allowed (`Key = , a;`), a sign may stand apart (`Key = - 5;`);
 *  - "..." strings translate \n \t \r and drop the backslash before any other char, and
 *    end where flex's longest match ends them (see conf_lex_string); '...' strings are
 *    literal; both may span lines;
 *  - a '#' comment on the last line needs a '\n' after it (flex's `#.*$`), else ganesha
 *    fails with "Unexpected character (#)";
 *  - %include is only allowed outside blocks, and a relative path is resolved against
 *    the directory of the top-level file (not of the including file: ganesha keeps one
 *    conf_dir per parse; for a top-level file given as a relative path ganesha uses the
 *    working directory, we use its dirname); a file included twice is an error (loop);
 *  - numbers: 0x.. is hex, a leading 0 is octal (so 010 is 8), as ganesha reads them;
 *  - several NFS_CORE_PARAM/NFSV4/NFS_KRB5 blocks: later values win.
 * Deliberate differences: sizes take K/M/G/T suffixes (only inside quotes, see above);
 * bools also take 1/0 and quoted forms (ganesha's own keys would refuse those, but
 * s3files keys are read only by us); %dir includes files in sorted order; %url (rados)
 * is refused because the daemon has no RADOS client.
 *
 * Errors are collected, not returned at the first: the parser recovers at the next ';'
 * or '}' like ganesha's grammar does, and the binder reports every bad setting. When
 * there is any syntax error the binder does not run: a half-parsed tree would only add
 * "missing setting" noise for statements the parser dropped.
 */
#include "base/conf.h"

#include "base/err.h"
#include "base/log.h"
#include "base/buf.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONF_MAX_DEPTH     32		/* nested blocks */
#define CONF_MAX_INCLUDE   16		/* nested %include */
#define CONF_MAX_FILES     256		/* files per parse, counting %dir */
#define CONF_MAX_FILE_SIZE (16u << 20)
#define CONF_MAX_ERRORS    100		/* then "N more errors" */
#define CONF_MAX_SYNTAX    50		/* the parser gives up after this many */

/* ------------------------------------------------------------------------------------
 * Error collection: "file:line: what: reason\n" lines in a growing buffer.
 */

struct conf_errs {
	char *buf;
	size_t len, cap;
	unsigned n;		/* errors reported */
	unsigned dropped;	/* beyond CONF_MAX_ERRORS */
	bool oom;
	struct conf_errs *warn;	/* where non-fatal findings go; NULL: dropped */
};

static void conf_errs_add(struct conf_errs *e, const char *line, size_t n)
{
	if (BUF_GROW(&e->buf, &e->cap, e->len + n + 1)) {
		e->oom = true;
		return;
	}
	memcpy(e->buf + e->len, line, n);
	e->len += n;
	e->buf[e->len] = '\0';
}

static void conf_err(struct conf_errs *e, const char *file, int line, const char *what,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void conf_err(struct conf_errs *e, const char *file, int line, const char *what,
		     const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	if (e->n >= CONF_MAX_ERRORS) {
		e->dropped++;
		return;
	}
	e->n++;
	n = snprintf(msg, sizeof msg, "%s:%d: %s: ", file, line, what);
	if (n < 0 || (size_t)n >= sizeof msg)
		n = (int)sizeof msg - 2;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
	va_end(ap);
	n = (int)strlen(msg);
	msg[n++] = '\n';
	conf_errs_add(e, msg, (size_t)n);
}

/* Copy the collected lines into the caller's buffer without the final '\n'. When they do
 * not fit, cut at a line boundary if any line fits, and never split a UTF-8 sequence. */
static void conf_errs_out(struct conf_errs *e, char *err, size_t errlen)
{
	size_t n;

	if (!err || errlen == 0)
		return;
	err[0] = '\0';
	if (e->dropped) {
		char more[64];
		int k = snprintf(more, sizeof more, "(%u more errors)\n", e->dropped);

		conf_errs_add(e, more, (size_t)k);
	}
	if (e->oom && e->len == 0) {
		snprintf(err, errlen, "out of memory");
		return;
	}
	n = e->len;
	if (n && e->buf[n - 1] == '\n')
		n--;
	if (n >= errlen) {
		size_t cut = errlen - 1;

		while (cut > 0 && e->buf[cut] != '\n')
			cut--;
		if (cut == 0) {
			cut = errlen - 1;
			while (cut > 0 && ((unsigned char)e->buf[cut] & 0xC0) == 0x80)
				cut--;
		}
		n = cut;
	}
	memcpy(err, e->buf, n);
	err[n] = '\0';
}

/* A value as it may appear in a message: at most 48 chars, non-printables as \xNN. */
static const char *conf_show(const char *s, size_t n, char *buf, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 8 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o >= 48) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return buf;
}

/* ------------------------------------------------------------------------------------
 * Parse tree.
 */

struct conf_value {
	char *text;		/* unquoted and unescaped */
};

struct conf_node {
	char *name;
	const char *file;		/* owned by conf_parse.files */
	int line;
	bool is_block;
	struct conf_value *vals;	/* statement */
	size_t n_vals;
	struct conf_node *child;	/* block */
	struct conf_node *last;
	struct conf_node *next;
};

static void conf_node_free(struct conf_node *n)
{
	while (n) {
		struct conf_node *next = n->next;

		conf_node_free(n->child);
		for (size_t i = 0; i < n->n_vals; i++)
			free(n->vals[i].text);
		free(n->vals);
		free(n->name);
		free(n);
		n = next;
	}
}

static void conf_node_append(struct conf_node *parent, struct conf_node *n)
{
	if (parent->last)
		parent->last->next = n;
	else
		parent->child = n;
	parent->last = n;
}

/* One file read during a parse. */
struct conf_file {
	char *path;
	bool on_disk;
	mode_t mode;
	dev_t dev;
	ino_t ino;
};

struct conf_parse {
	struct conf_errs *errs;
	char *dir;			/* where relative %include paths point */
	struct conf_file files[CONF_MAX_FILES];
	size_t n_files;
	unsigned syntax;		/* syntax errors so far */
	bool oom;
	struct conf_node root;
};

/* The text being lexed. */
struct conf_src {
	const char *file;
	const char *p, *end;
	int line;
	int depth;			/* %include nesting */
	bool eof_error;			/* an unterminated string already ate the rest */
};

enum conf_tok {
	TK_EOF, TK_NAME, TK_EQ, TK_LBRACE, TK_RBRACE, TK_SEMI, TK_COMMA, TK_VALUE,
	TK_DIRECTIVE, TK_BAD,
};

struct conf_token {
	enum conf_tok t;
	int line;
	char *text;		/* NAME, VALUE, DIRECTIVE: heap */
};

static const char *conf_tok_desc(const struct conf_token *t)
{
	switch (t->t) {
	case TK_EOF: return "end of file";
	case TK_NAME: return "a name";
	case TK_EQ: return "'='";
	case TK_LBRACE: return "'{'";
	case TK_RBRACE: return "'}'";
	case TK_SEMI: return "';'";
	case TK_COMMA: return "','";
	case TK_VALUE: return "a value";
	case TK_DIRECTIVE: return "a directive";
	case TK_BAD: return "an invalid token";
	}
	return "?";
}

static void conf_syntax(struct conf_parse *ps, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void conf_syntax(struct conf_parse *ps, const char *file, int line, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	ps->syntax++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	conf_err(ps->errs, file, line, "syntax error", "%s", msg);
}

static bool conf_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool conf_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool conf_xdigit(int c)
{
	return conf_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* ganesha's WC class: [a-zA-Z0-9._-] (also the path-segment characters). */
static bool conf_wc(int c)
{
	return conf_alpha(c) || conf_digit(c) || c == '.' || c == '_' || c == '-';
}

/* What ends an unquoted value. */
static bool conf_delim(int c)
{
	return c != 0 && strchr(" \t\r\f\n#;,{}=\"'", c) != NULL;
}

/* Characters any of ganesha's unquoted value tokens can contain. */
static bool conf_word_char(int c)
{
	return c != 0 && (conf_wc(c) || strchr("/?*![]@:~", c) != NULL);
}

/* OCTNUM 0[0-7]+, DECNUM (0|[1-9][0-9]*), HEXNUM 0[xX][0-9a-fA-F]+ */
static bool conf_g_num(const char *s, size_t n)
{
	if (n == 0)
		return false;
	if (s[0] == '0') {
		if (n == 1)
			return true;
		if (s[1] == 'x' || s[1] == 'X') {
			if (n == 2)
				return false;
			for (size_t i = 2; i < n; i++)
				if (!conf_xdigit(s[i]))
					return false;
			return true;
		}
		for (size_t i = 1; i < n; i++)
			if (s[i] < '0' || s[i] > '7')
				return false;
		return true;
	}
	for (size_t i = 0; i < n; i++)
		if (!conf_digit(s[i]))
			return false;
	return true;
}

static bool conf_g_v4(const char *s, size_t n)
{
	size_t i = 0;

	for (int oct = 0; oct < 4; oct++) {
		size_t d = 0;

		if (oct > 0) {
			if (i >= n || s[i] != '.')
				return false;
			i++;
		}
		while (i < n && conf_digit(s[i]) && d < 3) {
			i++;
			d++;
		}
		if (d == 0)
			return false;
	}
	if (i == n)
		return true;
	/* CIDR \/[1-9][0-9]? */
	if (s[i] != '/' || i + 1 >= n || s[i + 1] < '1' || s[i + 1] > '9')
		return false;
	i += 2;
	if (i < n && conf_digit(s[i]))
		i++;
	return i == n;
}

static bool conf_g_v6(const char *s, size_t n)
{
	char buf[64];
	unsigned char addr[16];
	const char *slash = memchr(s, '/', n);
	size_t an = slash ? (size_t)(slash - s) : n;

	if (an == 0 || an >= sizeof buf || !memchr(s, ':', an))
		return false;
	if (slash) {
		size_t cn = n - an - 1;

		if (cn < 1 || cn > 2 || slash[1] < '1' || slash[1] > '9' ||
		    (cn == 2 && !conf_digit(slash[2])))
			return false;
	}
	memcpy(buf, s, an);
	buf[an] = '\0';
	return inet_pton(AF_INET6, buf, addr) == 1;
}

/* PATHNAME \/([WC]+\/?)?  |  LONGPATH (\/?[WC]+(\/[WC]+)+)\/? */
static bool conf_g_path(const char *s, size_t n)
{
	size_t i = 0, segs = 0;
	bool lead = n > 0 && s[0] == '/';

	if (lead)
		i = 1;
	while (i < n) {
		size_t st = i;

		while (i < n && conf_wc(s[i]))
			i++;
		if (i == st)
			return false;	/* empty segment or foreign char */
		segs++;
		if (i == n)
			break;
		if (s[i] != '/')
			return false;
		i++;
		if (i == n)
			break;		/* trailing '/' */
	}
	if (lead)
		return segs <= 1 ? (segs == 1 || n == 1) : true;
	return segs >= 2;
}

/* WILDCARD ({WC}*{WP})+{WC}*, WP = \[!?{WC}+\] | * | ? */
static bool conf_g_wild(const char *s, size_t n)
{
	bool wp = false;

	for (size_t i = 0; i < n; i++) {
		if (conf_wc(s[i]))
			continue;
		if (s[i] == '*' || s[i] == '?') {
			wp = true;
			continue;
		}
		if (s[i] != '[')
			return false;
		i++;
		if (i < n && s[i] == '!')
			i++;
		size_t st = i;

		while (i < n && conf_wc(s[i]))
			i++;
		if (i == st || i >= n || s[i] != ']')
			return false;
		wp = true;
	}
	return wp;
}

/* Would ganesha's lexer read this run of word characters as one value? */
static bool conf_word_ok(const char *s, size_t n)
{
	const char *dot;

	if (n == 0)
		return false;
	/* TOKEN_CHARS [a-zA-Z_?][a-zA-Z0-9._-]* (covers yes/no/true/..., 9P aside) */
	if (conf_alpha(s[0]) || s[0] == '_' || s[0] == '?') {
		size_t i = 1;

		while (i < n && conf_wc(s[i]))
			i++;
		if (i == n)
			return true;
	}
	if (n == 2 && s[0] == '9' && (s[1] == 'p' || s[1] == 'P'))
		return true;
	if (conf_g_num(s, n))
		return true;
	if ((s[0] == '-' || s[0] == '~') && conf_g_num(s + 1, n - 1))
		return true;	/* TOK_ARITH_OP followed by a number */
	dot = memchr(s, '.', n);
	if (dot && conf_g_num(s, (size_t)(dot - s)) &&
	    conf_g_num(dot + 1, n - (size_t)(dot - s) - 1))
		return true;	/* FSID */
	if (conf_g_v4(s, n) || conf_g_v6(s, n))
		return true;
	if (s[0] == '@' && n > 1 && (conf_alpha(s[1]) || s[1] == '_')) {
		size_t i = 2;

		while (i < n && (conf_wc(s[i])))
			i++;
		if (i == n)
			return true;	/* netgroup */
	}
	return conf_g_path(s, n) || conf_g_wild(s, n);
}

static char *conf_strndup(struct conf_parse *ps, const char *s, size_t n)
{
	char *d = strndup(s, n);

	if (!d)
		ps->oom = true;
	return d;
}

static void conf_skip_space(struct conf_parse *ps, struct conf_src *s)
{
	while (s->p < s->end) {
		char c = *s->p;

		if (c == '\n') {
			s->line++;
			s->p++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\f') {
			s->p++;
		} else if (c == '#') {
			while (s->p < s->end && *s->p != '\n')
				s->p++;
			/* ganesha's comment rule is #.*$ and flex's $ wants a '\n': a comment
			 * ending the file without one is "Unexpected character (#)", fatal */
			if (s->p == s->end)
				conf_syntax(ps, s->file, s->line, "the comment on the last line needs "
					    "a newline after it (ganesha rejects the file otherwise)");
		} else {
			break;
		}
	}
}

static void conf_bad_char(struct conf_parse *ps, struct conf_src *s)
{
	unsigned char c = (unsigned char)*s->p;

	if (c == 0)
		conf_syntax(ps, s->file, s->line, "unexpected NUL byte");
	else if (c < 0x20 || c >= 0x7f)
		conf_syntax(ps, s->file, s->line, "unexpected byte 0x%02x", c);
	else
		conf_syntax(ps, s->file, s->line, "unexpected character '%c'", c);
	s->p++;
}

/*
 * A "..." or '...' string starting at s->p, delimited exactly as ganesha's flex rules
 * do: SQUOTE \'[^\']*\' ends at the next quote. DQUOTE \"(\\.|[^\"])*\" under longest
 * match ends at the first '"' NOT preceded by a backslash (a backslash before a quote may
 * always escape it), or, when no such quote follows, at the last '"' of the input. So
 * "C:\\" runs on to the next unescaped quote, as it does in ganesha. The value is then
 * unescaped like ganesha's save_token: \n \t \r, any other \X is X.
 */
static void conf_lex_string(struct conf_parse *ps, struct conf_src *s, struct conf_token *t)
{
	char q = *s->p;
	const char *st = s->p + 1, *close = NULL, *nul, *lim;
	int line = s->line;
	size_t n = 0;
	char *out;

	if (q == '\'') {
		close = st < s->end ? memchr(st, '\'', (size_t)(s->end - st)) : NULL;
	} else {
		for (const char *p = st; p < s->end; p++) {
			if (*p != '"')
				continue;
			close = p;
			if (p[-1] != '\\')
				break;
		}
	}
	lim = close ? close : s->end;
	nul = lim > st ? memchr(st, '\0', (size_t)(lim - st)) : NULL;
	if (!close || nul) {
		if (nul)
			conf_syntax(ps, s->file, line, "NUL byte inside a quoted string");
		else
			conf_syntax(ps, s->file, line, "unterminated %s-quoted string",
				    q == '"' ? "double" : "single");
		s->p = s->end;
		s->eof_error = true;
		t->t = TK_BAD;
		return;
	}
	for (const char *p = s->p; p < close; p++)
		if (*p == '\n')
			s->line++;
	s->p = close + 1;
	out = malloc((size_t)(close - st) + 2);
	if (!out) {
		ps->oom = true;
		t->t = TK_BAD;
		return;
	}
	if (q == '\'') {
		memcpy(out, st, (size_t)(close - st));
		n = (size_t)(close - st);
	} else {
		/* over the token with its closing quote, as save_token sees it */
		for (const char *p = st; p <= close; p++) {
			char c = *p;

			if (c == '\\') {
				c = *++p;
				if (c == 'n')
					c = '\n';
				else if (c == 't')
					c = '\t';
				else if (c == 'r')
					c = '\r';
			} else if (p == close) {
				break;
			}
			out[n++] = c;
			if (p == close)
				break;
		}
	}
	out[n] = '\0';
	t->t = TK_VALUE;
	t->text = out;
}

/*
 * Next token. value_mode is ganesha's TERM state (after '='): values instead of names.
 * key names the statement whose value is lexed, for messages; secret keys never have
 * their value echoed.
 */
static void conf_lex(struct conf_parse *ps, struct conf_src *s, bool value_mode,
		     const char *key, bool secret, struct conf_token *t)
{
	memset(t, 0, sizeof *t);
	conf_skip_space(ps, s);
	t->line = s->line;
	if (s->p >= s->end) {
		t->t = TK_EOF;
		return;
	}
	switch (*s->p) {
	case '=': s->p++; t->t = TK_EQ; return;
	case '{': s->p++; t->t = TK_LBRACE; return;
	case '}': s->p++; t->t = TK_RBRACE; return;
	case ';': s->p++; t->t = TK_SEMI; return;
	case ',': s->p++; t->t = TK_COMMA; return;
	}
	if (value_mode) {
		const char *st = s->p;
		bool ok = true;

		if (*s->p == '"' || *s->p == '\'') {
			conf_lex_string(ps, s, t);
			return;
		}
		/* An unquoted value runs to the next delimiter; all of it must be one token
		 * for ganesha, else the whole span needs quotes. */
		while (s->p < s->end && !conf_delim((unsigned char)*s->p)) {
			ok = ok && conf_word_char((unsigned char)*s->p);
			s->p++;
		}
		if (s->p - st == 1 && (*st == '-' || *st == '~')) {
			/* ganesha's TOK_ARITH_OP may stand apart from its number: "- 5" */
			struct conf_src look = *s;
			const char *ns;

			conf_skip_space(ps, &look);
			ns = look.p;
			while (look.p < look.end && !conf_delim((unsigned char)*look.p))
				look.p++;
			if (look.p > ns && conf_g_num(ns, (size_t)(look.p - ns))) {
				char *v = malloc((size_t)(look.p - ns) + 2);

				if (!v) {
					ps->oom = true;
					t->t = TK_BAD;
					return;
				}
				v[0] = *st;
				memcpy(v + 1, ns, (size_t)(look.p - ns));
				v[look.p - ns + 1] = '\0';
				*s = look;
				t->t = TK_VALUE;
				t->text = v;
				return;
			}
		}
		if (!ok || !conf_word_ok(st, (size_t)(s->p - st))) {
			char shown[128];

			if (secret)
				conf_syntax(ps, s->file, t->line, "%s: the value must be put in "
					    "double quotes", key);
			else
				conf_syntax(ps, s->file, t->line, "%s: %s is not a valid unquoted "
					    "value (ganesha would reject it); put it in double "
					    "quotes", key, conf_show(st, (size_t)(s->p - st), shown,
								      sizeof shown));
			t->t = TK_BAD;
			return;
		}
		t->t = TK_VALUE;
		t->text = conf_strndup(ps, st, (size_t)(s->p - st));
		if (!t->text)
			t->t = TK_BAD;
		return;
	}
	if (conf_alpha(*s->p) || *s->p == '_') {
		const char *st = s->p;

		while (s->p < s->end && (conf_alpha(*s->p) || conf_digit(*s->p) ||
					 *s->p == '_' || *s->p == '-'))
			s->p++;
		t->t = TK_NAME;
		t->text = conf_strndup(ps, st, (size_t)(s->p - st));
		if (!t->text)
			t->t = TK_BAD;
		return;
	}
	if (*s->p == '%') {
		const char *st = s->p++;

		while (s->p < s->end && conf_alpha(*s->p))
			s->p++;
		t->t = TK_DIRECTIVE;
		t->text = conf_strndup(ps, st, (size_t)(s->p - st));
		if (!t->text)
			t->t = TK_BAD;
		return;
	}
	conf_bad_char(ps, s);
	t->t = TK_BAD;
}

static void conf_tok_free(struct conf_token *t)
{
	free(t->text);
	t->text = NULL;
}

static bool conf_key_secret(const char *name)
{
	return strcasestr(name, "secret") != NULL || strcasestr(name, "password") != NULL;
}

static void conf_parse_include(struct conf_parse *ps, struct conf_src *s, const char *arg,
			       int line);
static void conf_parse_dir(struct conf_parse *ps, struct conf_src *s, const char *arg, int line);

/*
 * Skip the rest of a broken statement, like ganesha's `error ';'` and `error '}'` rules:
 * up to and including the next ';' outside braces, or up to a '}' that closes the
 * enclosing block (then *pushed_rbrace). Raw scan: nothing inside is reported again.
 */
static void conf_recover(struct conf_src *s, struct conf_token *t, bool *pushed_rbrace)
{
	enum conf_tok k = t->t;
	int nest = 0;

	conf_tok_free(t);
	if (k == TK_SEMI || k == TK_EOF)
		return;
	if (k == TK_RBRACE) {
		*pushed_rbrace = true;
		return;
	}
	if (k == TK_LBRACE)
		nest++;
	while (s->p < s->end) {
		char c = *s->p++;

		if (c == '\n') {
			s->line++;
		} else if (c == ';' && nest == 0) {
			return;
		} else if (c == '{') {
			nest++;
		} else if (c == '}') {
			if (nest == 0) {
				*pushed_rbrace = true;
				return;
			}
			nest--;
		} else if (c == '#') {
			while (s->p < s->end && *s->p != '\n')
				s->p++;
		} else if (c == '"' || c == '\'') {
			while (s->p < s->end && *s->p != c) {
				if (c == '"' && *s->p == '\\' && s->p + 1 < s->end)
					s->p++;
				if (*s->p == '\n')
					s->line++;
				s->p++;
			}
			if (s->p < s->end)
				s->p++;
			else
				s->eof_error = true;	/* one error is enough */
		}
	}
}

/* `name = v, v, ...;` after the '='. Returns the node or NULL (error reported). */
static struct conf_node *conf_parse_stmt(struct conf_parse *ps, struct conf_src *s, char *name,
					 int line, bool *pushed_rbrace)
{
	struct conf_node *n = calloc(1, sizeof *n);
	struct conf_token t;
	bool secret = conf_key_secret(name);
	bool want_value = true, lead_comma = false;

	if (!n) {
		ps->oom = true;
		free(name);
		return NULL;
	}
	n->name = name;
	n->file = s->file;
	n->line = line;
	for (;;) {
		conf_lex(ps, s, true, name, secret, &t);
		if (want_value && t.t == TK_VALUE) {
			struct conf_value *nv = realloc(n->vals, (n->n_vals + 1) * sizeof *nv);

			if (!nv) {
				ps->oom = true;
				conf_tok_free(&t);
				goto fail;
			}
			n->vals = nv;
			nv[n->n_vals].text = t.text;
			n->n_vals++;
			want_value = false;
			continue;
		}
		if (t.t == TK_SEMI && (!want_value || (n->n_vals == 0 && !lead_comma)))
			return n;
		if (t.t == TK_COMMA && (!want_value || (n->n_vals == 0 && !lead_comma))) {
			/* ganesha's exprlist may be empty before a ',': "Key = , v;" is valid */
			lead_comma = lead_comma || n->n_vals == 0;
			want_value = true;
			continue;
		}
		if (t.t == TK_BAD || (t.t == TK_EOF && s->eof_error)) {
			/* already reported */
		} else if (want_value) {
			conf_syntax(ps, s->file, t.line, "%s: expected a value%s, got %s", name,
				    n->n_vals || lead_comma ? " after ','" : "", conf_tok_desc(&t));
		} else if (t.t == TK_RBRACE || t.t == TK_EOF) {
			conf_syntax(ps, s->file, t.line, "%s: missing ';' at the end of the setting",
				    name);
		} else {
			conf_syntax(ps, s->file, t.line, "%s: expected ',' or ';' after a value, "
				    "got %s", name, conf_tok_desc(&t));
		}
		conf_recover(s, &t, pushed_rbrace);
		goto fail;
	}
fail:
	conf_node_free(n);
	return NULL;
}

static void conf_parse_defs(struct conf_parse *ps, struct conf_src *s, struct conf_node *parent,
			    int depth);

/* After NAME: `= values;` or `{ defs }`. */
static void conf_parse_def(struct conf_parse *ps, struct conf_src *s, struct conf_node *parent,
			   char *name, int line, int depth, bool *pushed_rbrace)
{
	struct conf_token t;
	struct conf_node *n;

	conf_lex(ps, s, false, name, false, &t);
	if (t.t == TK_EQ) {
		n = conf_parse_stmt(ps, s, name, line, pushed_rbrace);
		if (n)
			conf_node_append(parent, n);
		return;
	}
	if (t.t == TK_LBRACE) {
		if (depth >= CONF_MAX_DEPTH) {
			conf_syntax(ps, s->file, line, "%s: blocks nested too deeply (over %d)",
				    name, CONF_MAX_DEPTH);
			free(name);
			s->p = s->end;
			s->eof_error = true;
			return;
		}
		n = calloc(1, sizeof *n);
		if (!n) {
			ps->oom = true;
			free(name);
			return;
		}
		n->name = name;
		n->file = s->file;
		n->line = line;
		n->is_block = true;
		conf_node_append(parent, n);
		conf_parse_defs(ps, s, n, depth + 1);
		return;
	}
	if (t.t != TK_BAD && !(t.t == TK_EOF && s->eof_error))
		conf_syntax(ps, s->file, line, "expected '=' or '{' after %s, got %s", name,
			    conf_tok_desc(&t));
	free(name);
	conf_recover(s, &t, pushed_rbrace);
}

/* The argument of a directive: "quoted" (no escapes) or up to a blank. NULL: reported. */
static char *conf_directive_arg(struct conf_parse *ps, struct conf_src *s, const char *dir,
				int line)
{
	const char *st;
	char *arg;

	while (s->p < s->end && *s->p && strchr(" \t\r\f", *s->p))
		s->p++;
	st = s->p;
	if (s->p < s->end && *s->p == '"') {
		st = ++s->p;
		while (s->p < s->end && *s->p != '"' && *s->p != '\n')
			s->p++;
		if (s->p >= s->end || *s->p != '"') {
			conf_syntax(ps, s->file, line, "%s: unterminated file name", dir);
			return NULL;
		}
		arg = conf_strndup(ps, st, (size_t)(s->p - st));
		s->p++;
	} else {
		while (s->p < s->end && *s->p && !strchr(" \t\r\f\n#;{}", *s->p))
			s->p++;
		arg = conf_strndup(ps, st, (size_t)(s->p - st));
	}
	return arg;
}

/* The definitions of a block up to its '}' (depth > 0) or of a file (depth 0). */
static void conf_parse_defs(struct conf_parse *ps, struct conf_src *s, struct conf_node *parent,
			    int depth)
{
	struct conf_token t;
	bool pushed = false;

	for (;;) {
		if (ps->oom || ps->syntax >= CONF_MAX_SYNTAX)
			return;
		if (pushed) {
			pushed = false;
			memset(&t, 0, sizeof t);
			t.t = TK_RBRACE;
			t.line = s->line;
		} else {
			conf_lex(ps, s, false, "", false, &t);
		}
		switch (t.t) {
		case TK_NAME:
			conf_parse_def(ps, s, parent, t.text, t.line, depth, &pushed);
			continue;
		case TK_RBRACE:
			if (depth > 0)
				return;
			conf_syntax(ps, s->file, t.line, "'}' without a matching '{'");
			continue;
		case TK_EOF:
			if (depth > 0 && !s->eof_error)
				conf_syntax(ps, parent->file, parent->line, "block %s is not closed "
					    "(missing '}' before the end of %s)", parent->name,
					    s->file);
			return;
		case TK_DIRECTIVE:
			break;
		case TK_BAD:
			conf_recover(s, &t, &pushed);
			continue;
		default:
			conf_syntax(ps, s->file, t.line, "expected a setting or block name, got %s",
				    conf_tok_desc(&t));
			conf_recover(s, &t, &pushed);
			continue;
		}

		/* %include "path" | %dir "path[/glob]" | %url ... */
		char *dir = t.text;
		int line = t.line;
		char *arg = conf_directive_arg(ps, s, dir, line);

		if (!arg) {
			free(dir);
			continue;
		}
		if (depth > 0) {
			/* ganesha only knows directives between blocks */
			conf_syntax(ps, s->file, line, "%s is only allowed outside blocks", dir);
			free(arg);
			free(dir);
			continue;
		}
		if (strcmp(dir, "%include") == 0 || strcmp(dir, "%dir") == 0) {
			bool isdir = dir[1] == 'd';
			bool ok = arg[0] != '\0';

			/* ganesha's INCLPATH/DIR_PATH: [a-zA-Z0-9._-/] (and '*' for %dir) */
			for (const char *p = arg; *p && ok; p++)
				ok = conf_wc((unsigned char)*p) || *p == '/' ||
				     (isdir && strchr("*?[]!", *p));
			if (!ok)
				conf_syntax(ps, s->file, line, "%s: file name may only contain "
					    "letters, digits, '.', '_', '-' and '/'", dir);
			else if (s->depth + 1 > CONF_MAX_INCLUDE)
				conf_err(ps->errs, s->file, line, dir, "nested too deeply "
					 "(over %d levels)", CONF_MAX_INCLUDE);
			else if (isdir)
				conf_parse_dir(ps, s, arg, line);
			else
				conf_parse_include(ps, s, arg, line);
		} else if (strcmp(dir, "%url") == 0) {
			conf_err(ps->errs, s->file, line, dir, "not supported by s3files "
				 "(keep the configuration in local files)");
			ps->syntax++;
		} else {
			conf_syntax(ps, s->file, line, "unknown directive %s", dir);
		}
		free(arg);
		free(dir);
	}
}

/* ------------------------------------------------------------------------------------
 * Files and includes.
 */

/* Whole file into memory (configs are small; the cap keeps a wrong path from hurting). */
static int conf_read_file(const char *path, char **out, size_t *len, struct stat *st)
{
	char *buf = NULL;
	size_t n = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fstat(fd, st) != 0) {
		rc = errno;
		goto out_close;
	}
	if (S_ISDIR(st->st_mode)) {
		rc = EISDIR;
		goto out_close;
	}
	if (!S_ISREG(st->st_mode)) {
		rc = EINVAL;
		goto out_close;
	}
	if ((uint64_t)st->st_size > CONF_MAX_FILE_SIZE) {
		rc = EFBIG;
		goto out_close;
	}
	buf = malloc((size_t)st->st_size + 1);
	if (!buf) {
		rc = ENOMEM;
		goto out_close;
	}
	while (n < (size_t)st->st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st->st_size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = errno;
			goto out_free;
		}
		if (r == 0)
			break;		/* shrank under us: parse what is there */
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
out_free:
	free(buf);
out_close:
	close(fd);
	return rc;
}

/* Register a file; NULL when it was already read (loop) or on resource exhaustion. */
static struct conf_file *conf_file_add(struct conf_parse *ps, const char *path, bool on_disk,
				       const struct stat *st, const char *from, int from_line,
				       const char *what)
{
	struct conf_file *f;

	for (size_t i = 0; on_disk && i < ps->n_files; i++) {
		if (ps->files[i].on_disk && ps->files[i].dev == st->st_dev &&
		    ps->files[i].ino == st->st_ino) {
			conf_err(ps->errs, from, from_line, what, "%s is already included "
				 "(include loop?)", path);
			ps->syntax++;
			return NULL;
		}
	}
	if (ps->n_files >= CONF_MAX_FILES) {
		conf_err(ps->errs, from, from_line, what, "more than %d configuration files",
			 CONF_MAX_FILES);
		ps->syntax++;
		return NULL;
	}
	f = &ps->files[ps->n_files];
	f->path = strdup(path);
	if (!f->path) {
		ps->oom = true;
		return NULL;
	}
	ps->n_files++;
	f->on_disk = on_disk;
	if (on_disk) {
		f->mode = st->st_mode;
		f->dev = st->st_dev;
		f->ino = st->st_ino;
	}
	return f;
}

static void conf_parse_buf(struct conf_parse *ps, const struct conf_file *f, const char *text,
			   size_t len, int depth)
{
	struct conf_src src = {
		.file = f->path, .p = text, .end = text + len, .line = 1, .depth = depth,
	};

	conf_parse_defs(ps, &src, &ps->root, 0);
}

/* Parse an included file. Errors are reported at the directive. */
static void conf_parse_file(struct conf_parse *ps, const char *path, const char *from,
			    int from_line, const char *what, int depth)
{
	struct conf_file *f;
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int rc;

	rc = conf_read_file(path, &text, &len, &st);
	if (rc) {
		if (rc == ENOMEM)
			ps->oom = true;
		conf_err(ps->errs, from, from_line, what, "cannot read %s: %s", path,
			 strerror(rc));
		ps->syntax++;
		return;
	}
	f = conf_file_add(ps, path, true, &st, from, from_line, what);
	if (f)
		conf_parse_buf(ps, f, text, len, depth);
	free(text);
}

static char *conf_resolve(struct conf_parse *ps, const char *arg)
{
	char *full;

	if (arg[0] == '/')
		full = strdup(arg);
	else if (asprintf(&full, "%s/%s", ps->dir, arg) < 0)
		full = NULL;
	if (!full)
		ps->oom = true;
	return full;
}

static void conf_parse_include(struct conf_parse *ps, struct conf_src *s, const char *arg,
			       int line)
{
	char *full = conf_resolve(ps, arg);

	if (full)
		conf_parse_file(ps, full, s->file, line, "%include", s->depth + 1);
	free(full);
}

/* %dir "dir" or %dir "dir/glob": every regular file (matching), in name order. */
static void conf_parse_dir(struct conf_parse *ps, struct conf_src *s, const char *arg, int line)
{
	struct dirent **ents = NULL;
	char *full = conf_resolve(ps, arg);
	char *slash, *pattern = NULL;
	int n;

	if (!full)
		return;
	slash = strrchr(full, '/');
	if (slash && strpbrk(slash + 1, "*?[")) {
		pattern = slash + 1;
		*slash = '\0';
	}
	n = scandir(full[0] ? full : "/", &ents, NULL, alphasort);
	if (n < 0) {
		conf_err(ps->errs, s->file, line, "%dir", "cannot read directory %s: %s", full,
			 strerror(errno));
		ps->syntax++;
		free(full);
		return;
	}
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		char *path;
		struct stat st;

		if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
			goto next;
		if (pattern && fnmatch(pattern, name, 0) != 0)
			goto next;
		if (asprintf(&path, "%s/%s", full, name) < 0) {
			ps->oom = true;
			goto next;
		}
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			conf_parse_file(ps, path, s->file, line, "%dir", s->depth + 1);
		free(path);
next:
		free(ents[i]);
	}
	free(ents);
	free(full);
}

/* ------------------------------------------------------------------------------------
 * Settings tables.
 */

enum conf_type { CT_STR, CT_BOOL, CT_U16, CT_U32, CT_SIZE, CT_ENUM };

#define CF_REQUIRED 0x1
#define CF_SECRET   0x2		/* the value never appears in a message */
#define CF_PLANNED  0x4		/* accepted and validated, not acted on yet: warn when set */

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define TiB (1ull << 40)
#define PiB (1ull << 50)

#define CONF_NOSTORE SIZE_MAX	/* read and checked, stored nowhere */

struct conf_item {
	const char *name;
	enum conf_type type;
	unsigned flags;
	uint64_t min, max;		/* numbers: value range; strings: length range */
	const char *def;		/* default, as it would be written; NULL: none */
	const char *def_doc;		/* default when derived from other settings */
	const char *const *choices;	/* CT_ENUM, NULL-terminated */
	bool (*check)(char **v, char *why, size_t whylen);	/* may rewrite *v */
	size_t off;			/* into the bound struct */
	const char *desc;
};

struct conf_table {
	const char *block;		/* for messages */
	const char *heading;		/* for conf_describe */
	const struct conf_item *items;
	size_t n;
	bool strict;			/* unknown keys and blocks are errors */
};

/* Absolute path; trailing '/' dropped so derived paths read well. */
static bool conf_check_abspath(char **v, char *why, size_t whylen)
{
	size_t n = strlen(*v);

	if ((*v)[0] != '/') {
		snprintf(why, whylen, "must be an absolute path (ganesha runs from /)");
		return false;
	}
	while (n > 1 && (*v)[n - 1] == '/')
		(*v)[--n] = '\0';
	return true;
}

static bool conf_check_pseudo(char **v, char *why, size_t whylen)
{
	if ((*v)[0] != '/') {
		snprintf(why, whylen, "must start with '/'");
		return false;
	}
	return true;
}

/* Characters of bucket, region and similar names (S3, RGW relaxed names included). */
static bool conf_check_name(char **v, char *why, size_t whylen)
{
	for (const char *p = *v; *p; p++) {
		if (!conf_wc((unsigned char)*p)) {
			snprintf(why, whylen, "may only contain letters, digits, '.', '-' and '_'");
			return false;
		}
	}
	return true;
}

/* Credentials: printable ASCII without blanks. Says nothing about the value. */
static bool conf_check_token(char **v, char *why, size_t whylen)
{
	for (const char *p = *v; *p; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
			snprintf(why, whylen, "must be printable ASCII without blanks");
			return false;
		}
	}
	return true;
}

/*
 * Prefix: leading '/' stripped (S3 keys do not start with one), a trailing '/' added
 * unless empty; "." / ".." / empty components are refused because keys under such a
 * prefix have no POSIX path that leads back to them.
 */
static bool conf_check_prefix(char **v, char *why, size_t whylen)
{
	const char *p = *v;
	size_t n;
	char *out;

	if (*p == '/')
		p++;
	n = strlen(p);
	if (n == 0) {
		(*v)[0] = '\0';
		return true;
	}
	for (const char *c = p; c < p + n;) {
		const char *e = memchr(c, '/', (size_t)(p + n - c));
		size_t cl = e ? (size_t)(e - c) : (size_t)(p + n - c);

		if (cl == 0) {
			snprintf(why, whylen, "empty path component (\"//\")");
			return false;
		}
		if ((cl == 1 && c[0] == '.') || (cl == 2 && c[0] == '.' && c[1] == '.')) {
			snprintf(why, whylen, "\".\" and \"..\" components are not allowed");
			return false;
		}
		for (size_t i = 0; i < cl; i++) {
			if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f) {
				snprintf(why, whylen, "control characters are not allowed");
				return false;
			}
		}
		if (!e || e + 1 == p + n)
			break;
		c = e + 1;
	}
	if (p[n - 1] == '/') {
		memmove(*v, p, n + 1);
		return true;
	}
	out = malloc(n + 2);
	if (!out) {
		snprintf(why, whylen, "out of memory");
		return false;
	}
	memcpy(out, p, n);
	out[n] = '/';
	out[n + 1] = '\0';
	free(*v);
	*v = out;
	return true;
}

static bool conf_check_url(char **v, char *why, size_t whylen)
{
	const char *host;
	size_t n;

	if (strncasecmp(*v, "http://", 7) == 0)
		host = *v + 7;
	else if (strncasecmp(*v, "https://", 8) == 0)
		host = *v + 8;
	else {
		snprintf(why, whylen, "expected an http:// or https:// URL");
		return false;
	}
	if (*host == '\0' || *host == '/' || *host == ':') {
		snprintf(why, whylen, "URL has no host");
		return false;
	}
	for (const char *p = *v; *p; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
			snprintf(why, whylen, "URL contains a blank or non-ASCII character");
			return false;
		}
	}
	n = strlen(*v);
	while (n > 0 && (*v)[n - 1] == '/' && *v + n - 1 > host)
		(*v)[--n] = '\0';
	return true;
}

/* "host:port" or "[v6]:port", port 1..65535. */
static bool conf_check_hostport(char **v, char *why, size_t whylen)
{
	const char *colon = strrchr(*v, ':');
	unsigned long port = 0;
	const char *p;

	if (!colon || colon == *v || colon[1] == '\0')
		goto bad;
	for (p = colon + 1; *p; p++) {
		if (!conf_digit(*p) || port > 65535)
			goto bad;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port == 0 || port > 65535)
		goto bad;
	if ((*v)[0] == '[' ? colon[-1] != ']' : memchr(*v, ':', (size_t)(colon - *v)) != NULL)
		goto bad;	/* IPv6 literals need brackets */
	for (p = *v; p < colon; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			goto bad;
	return true;
bad:
	snprintf(why, whylen, "expected host:port like 127.0.0.1:9100 (port 1..65535)");
	return false;
}

static const char *const conf_log_levels[] = { "error", "warn", "info", "debug", NULL };
static const char *const conf_credentials_providers[] = {
	"auto", "config", "env", "web_identity", "file", "container", "imds", NULL
};

#define EXP(m) offsetof(struct conf_export, m)
#define DMN(m) offsetof(struct conf_daemon, m)
#define GSH(m) offsetof(struct conf_ganesha, m)

/* EXPORT block: only what s3files needs; the rest is ganesha's. */
static const struct conf_item conf_export_block_items[] = {
	{ "Export_Id", CT_U32, CF_REQUIRED, 1, 65535, NULL, NULL, NULL, NULL, EXP(export_id),
	  "export number clients see in file handles (0 is the pseudo root)" },
	{ "Path", CT_STR, CF_REQUIRED, 1, PATH_MAX, NULL, NULL, NULL, NULL, EXP(path),
	  "ganesha's export path (the NFSv3 mount path)" },
	{ "Pseudo", CT_STR, 0, 1, PATH_MAX, NULL, NULL, NULL, conf_check_pseudo, EXP(pseudo),
	  "position in the NFSv4 pseudo file system" },
};

/* EXPORT { FSAL { Name = S3FILES; ... } } */
static const struct conf_item conf_fsal_items[] = {
	{ "Name", CT_STR, CF_REQUIRED, 1, 10, NULL, NULL, NULL, NULL, CONF_NOSTORE,
	  "S3FILES: selects this FSAL" },
	{ "Bucket", CT_STR, CF_REQUIRED, 3, 255, NULL, NULL, NULL, conf_check_name, EXP(bucket),
	  "S3 bucket exported" },
	{ "Prefix", CT_STR, 0, 0, 1024, "", NULL, NULL, conf_check_prefix, EXP(prefix),
	  "only keys under this prefix; '/' added at the end, no '.', '..' or '//'" },
	{ "Endpoint", CT_STR, 0, 1, 1024, NULL, "AWS: https://s3.<Region>.amazonaws.com", NULL,
	  conf_check_url, EXP(endpoint), "S3 endpoint URL, http:// or https://" },
	{ "Region", CT_STR, 0, 1, 64, "us-east-1", NULL, NULL, conf_check_name, EXP(region),
	  "SigV4 signing region" },
	{ "Path_Style", CT_BOOL, 0, 0, 0, NULL, "true if Endpoint is set, else false", NULL, NULL,
	  EXP(path_style), "address buckets as endpoint/bucket/key instead of bucket.host/key" },
	{ "TLS_Verify", CT_BOOL, 0, 0, 0, "true", NULL, NULL, NULL, EXP(tls_verify),
	  "verify the server certificate and host name" },
	{ "CA_File", CT_STR, 0, 1, PATH_MAX, NULL, "system store", NULL, conf_check_abspath,
	  EXP(ca_file), "PEM bundle of trusted CAs" },
	{ "Access_Key_Id", CT_STR, 0, 1, 127, NULL, "environment or Credentials_File", NULL,
	  conf_check_token, EXP(access_key_id), "S3 access key id (with Secret_Access_Key)" },
	{ "Secret_Access_Key", CT_STR, CF_SECRET, 1, 127, NULL, "environment or Credentials_File",
	  NULL, conf_check_token, EXP(secret_access_key),
	  "S3 secret key; prefer Credentials_File, else keep this file mode 0600" },
	{ "Credentials_File", CT_STR, 0, 1, PATH_MAX, NULL, "~/.aws/credentials", NULL,
	  conf_check_abspath, EXP(credentials_file),
	  "AWS-format credentials file, mode 0600 (used when no keys are given)" },
	{ "Profile", CT_STR, 0, 1, 128, NULL, "AWS_PROFILE or default", NULL, NULL, EXP(profile),
	  "profile in Credentials_File" },
	{ "Credentials_Provider", CT_ENUM, 0, 0, 0, "auto", NULL, conf_credentials_providers,
	  NULL, EXP(credentials_provider),
	  "where S3 credentials come from; auto tries, in this order: config (Access_Key_Id), "
	  "env (AWS_ACCESS_KEY_ID), web_identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, "
	  "via STS), file (Credentials_File), container (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI "
	  "or _FULL_URI), imds (EC2 instance metadata, IMDSv2); temporary credentials are "
	  "refreshed before they expire" },
	{ "STS_Endpoint", CT_STR, 0, 1, 1024, NULL, "AWS_ENDPOINT_URL_STS, else "
	  "https://sts.<Region>.amazonaws.com", NULL, conf_check_url, EXP(sts_endpoint),
	  "STS endpoint for web_identity credentials (AssumeRoleWithWebIdentity)" },
	{ "State_Dir", CT_STR, CF_REQUIRED, 1, PATH_MAX - 64, NULL, NULL, NULL, conf_check_abspath,
	  EXP(state_dir), "local state of the export: meta/, data/, events.jsonl" },
	{ "Meta_Dir", CT_STR, 0, 1, PATH_MAX, NULL, "<State_Dir>/meta", NULL, conf_check_abspath,
	  EXP(meta_dir), "metadata store (LMDB)" },
	{ "Data_Dir", CT_STR, 0, 1, PATH_MAX, NULL, "<State_Dir>/data", NULL, conf_check_abspath,
	  EXP(data_dir), "local data tier (sparse file per inode)" },
	{ "Journal", CT_STR, 0, 1, PATH_MAX, NULL, "<State_Dir>/events.jsonl", NULL,
	  conf_check_abspath, EXP(journal_path), "event journal (JSON lines)" },
	{ "Allow_Network_State_Dir", CT_BOOL, 0, 0, 0, "false", NULL, NULL, NULL,
	  EXP(allow_network_state_dir),
	  "start even when State_Dir, Meta_Dir or Data_Dir is on a network or FUSE file system "
	  "(NFS, SMB, 9p, Ceph, ...), whose locks do not keep a second gateway on another host "
	  "out; only if no other host uses that directory" },
	{ "Hydrate_Threshold", CT_SIZE, 0, 0, GiB, "128K", NULL, NULL, NULL, EXP(hydrate_threshold),
	  "files below this size get their data in the background after their directory is "
	  "listed" },
	{ "Commit_Interval", CT_U32, 0, 1, 86400, "60", NULL, NULL, NULL, EXP(commit_interval),
	  "seconds from the last change of a file to its upload" },
	{ "Commit_On_Close", CT_BOOL, 0, 0, 0, "false", NULL, NULL, NULL, EXP(commit_on_close),
	  "also upload a changed file at once when its last writer closes or fsyncs it" },
	{ "Write_Record_Delay_Ms", CT_U32, 0, 0, 1000, "20", NULL, NULL, NULL,
	  EXP(write_record_delay_ms),
	  "milliseconds the size and times of an UNSTABLE write may wait in the gateway's "
	  "memory before they reach the metadata store, so that the writes of that time share "
	  "one store commit and sync; clients see them at once, and a COMMIT, stable write, "
	  "close or other change of the file records them first; 0 = each write is recorded "
	  "before it is answered" },
	{ "Delegations", CT_BOOL, 0, 0, 0, "true", NULL, NULL, NULL, EXP(delegations),
	  "grant NFSv4 read delegations (recalled when the file changes in S3); also needs "
	  "ganesha's NFSV4 { Delegations = true; } and the EXPORT's Delegations = R" },
	{ "Read_Bypass_Threshold", CT_SIZE, 0, 0, TiB, "8M", NULL, NULL, NULL,
	  EXP(read_bypass_threshold),
	  "sequential reads of files this large come straight from S3 (parallel ranged "
	  "GETs), not through the data tier; 0 = never" },
	{ "Poll_Interval_Ms", CT_U32, 0, 100, 86400000, "5000", NULL, NULL, NULL,
	  EXP(poll_interval_ms), "milliseconds between re-lists of hydrated directories" },
	{ "Poll_Max_Lists", CT_U32, 0, 1, 1000000, "1000", NULL, NULL, NULL,
	  EXP(poll_max_lists),
	  "LIST requests one poll may make; the next poll goes on where it stopped (a "
	  "directory is always listed whole)" },
	{ "Multipart_Threshold", CT_SIZE, 0, 5 * MiB, 5 * GiB, "64M", NULL, NULL, NULL,
	  EXP(multipart_threshold), "uploads of this size and above use multipart" },
	{ "Part_Size", CT_SIZE, 0, 5 * MiB, 5 * GiB, "16M", NULL, NULL, NULL, EXP(part_size),
	  "multipart part size" },
	{ "Max_Connections", CT_U32, 0, 1, 256, "16", NULL, NULL, NULL, EXP(max_connections),
	  "parallel connections to S3" },
	{ "Data_Quota", CT_SIZE, 0, 0, PiB, "0", NULL, NULL, NULL, EXP(data_quota),
	  "capacity of the local data tier; 0 = unlimited (bounded by the disk); above it "
	  "committed data is evicted, least recently used first" },
	{ "Evict_After_Days", CT_U32, 0, 1, 36500, "30", NULL, NULL, NULL, EXP(evict_after_days),
	  "local data of committed files unused this many days is dropped (fetched again on read)" },
	{ "Quota_Wait", CT_U32, 0, 0, 3600, "30", NULL, NULL, NULL, EXP(quota_wait),
	  "seconds writes are held back (NFS4ERR_DELAY) while the data tier is over Data_Quota "
	  "with only dirty data, before they fail with EDQUOT" },
	{ "Meta_Map_Size", CT_SIZE, 0, MiB, 16 * TiB, "1G", NULL, NULL, NULL, EXP(meta_map_size),
	  "initial LMDB map size (grown when full)" },
	{ "Dir_Rename_Warn_Objects", CT_U32, 0, 1, 1000000000, "10000", NULL, NULL, NULL,
	  EXP(dir_rename_warn_objects),
	  "journal a dir_rename_large event when a directory rename moves more objects in S3" },
	{ "Import_Warn_Objects", CT_U32, 0, 1, 4000000000U, "50000000", NULL, NULL, NULL,
	  EXP(import_warn_objects),
	  "journal an import_warning event when one directory's S3 listing, or the whole file "
	  "view, holds more objects than this" },
	{ "S3_Setid", CT_BOOL, 0, 0, 0, "false", NULL, NULL, NULL, EXP(s3_setid),
	  "keep the setuid and setgid bits of x-amz-meta-mode on files imported from S3 "
	  "(false: dropped; anyone who can write to the bucket could otherwise plant a "
	  "setuid program)" },
	{ "S3_Devices", CT_BOOL, 0, 0, 0, "false", NULL, NULL, NULL, EXP(s3_devices),
	  "show objects whose x-amz-meta-mode says character or block device as devices "
	  "(false: as empty regular files; a device node planted in the bucket would open "
	  "the client's device of that number wherever the mount allows devices)" },
	{ "S3_Root_Owner", CT_BOOL, 0, 0, 0, "false", NULL, NULL, NULL, EXP(s3_root_owner),
	  "keep uid 0 and gid 0 of x-amz-meta-uid/gid on entries imported from S3 (false: "
	  "they become S3_Squash_Uid and S3_Squash_Gid)" },
	{ "S3_Squash_Uid", CT_U32, 0, 1, 4294967294U, "65534", NULL, NULL, NULL,
	  EXP(s3_squash_uid), "owner given to entries whose S3 metadata says uid 0 (with "
	  "S3_Root_Owner = false)" },
	{ "S3_Squash_Gid", CT_U32, 0, 1, 4294967294U, "65534", NULL, NULL, NULL,
	  EXP(s3_squash_gid), "group given to entries whose S3 metadata says gid 0 (with "
	  "S3_Root_Owner = false)" },
};

/* Top-level S3FILES { ... } */
static const struct conf_item conf_daemon_items[] = {
	{ "Control_Socket", CT_STR, 0, 2, 107, "/run/s3files/syncd.sock", NULL, NULL,
	  conf_check_abspath, DMN(control_socket), "UNIX socket of s3files-syncd" },
	{ "Log_Level", CT_ENUM, 0, 0, 0, "info", NULL, conf_log_levels, NULL, DMN(log_level),
	  "log level of s3files-syncd and of the FSAL's own messages" },
	{ "Notify_Listen", CT_STR, 0, 3, 262, NULL, "off", NULL, conf_check_hostport,
	  DMN(notify_listen), "host:port receiving S3 event notifications (HTTP POST)" },
	{ "Metrics_Listen", CT_STR, 0, 3, 262, NULL, "off", NULL, conf_check_hostport,
	  DMN(metrics_listen), "host:port serving Prometheus metrics at /metrics" },
	{ "Syslog", CT_STR, 0, 2, 107, NULL, "off", NULL, conf_check_abspath, DMN(syslog),
	  "syslog socket (e.g. /dev/log) that s3files-syncd also sends journal events to, "
	  "facility daemon, severity by kind (conflict: warning, commit_failed: error)" },
};

/* Ganesha's own values, read so the FSAL can compare them with nfs_param. Ganesha 4.3
 * defaults and ranges (src/support/nfs_read_conf.c). */
static const struct conf_item conf_core_items[] = {
	{ "NFS_Port", CT_U16, 0, 0, 65535, "2049", NULL, NULL, NULL, GSH(nfs_port), "" },
	{ "MNT_Port", CT_U16, 0, 0, 65535, "0", NULL, NULL, NULL, GSH(mnt_port), "" },
	{ "NLM_Port", CT_U16, 0, 0, 65535, "0", NULL, NULL, NULL, GSH(nlm_port), "" },
	{ "Rquota_Port", CT_U16, 0, 0, 65535, "875", NULL, NULL, NULL, GSH(rquota_port), "" },
	{ "Enable_NLM", CT_BOOL, 0, 0, 0, "true", NULL, NULL, NULL, GSH(enable_nlm), "" },
	{ "Enable_RQUOTA", CT_BOOL, 0, 0, 0, "true", NULL, NULL, NULL, GSH(enable_rquota), "" },
	{ "Enable_NFSACL", CT_BOOL, 0, 0, 0, "false", NULL, NULL, NULL, GSH(enable_nfsacl), "" },
};

static const struct conf_item conf_nfsv4_items[] = {
	{ "Lease_Lifetime", CT_U32, 0, 0, 180, "60", NULL, NULL, NULL, GSH(lease_lifetime), "" },
	{ "Grace_Period", CT_U32, 0, 0, 270, "90", NULL, NULL, NULL, GSH(grace_period), "" },
};

static const struct conf_item conf_krb5_items[] = {
	{ "Active_krb5", CT_BOOL, 0, 0, 0, "true", NULL, NULL, NULL, GSH(active_krb5), "" },
	{ "PrincipalName", CT_STR, 0, 1, PATH_MAX, "nfs", NULL, NULL, NULL, GSH(principal_name),
	  "" },
};

#define CONF_TABLE(blk, head, items, strict) \
	{ blk, head, items, sizeof items / sizeof items[0], strict }

static const struct conf_table conf_tab_export =
	CONF_TABLE("EXPORT", "EXPORT { ... } (ganesha's block; s3files reads these)",
		   conf_export_block_items, false);
static const struct conf_table conf_tab_fsal =
	CONF_TABLE("FSAL", "EXPORT { FSAL { Name = S3FILES; ... } }", conf_fsal_items, true);
static const struct conf_table conf_tab_daemon =
	CONF_TABLE("S3FILES", "S3FILES { ... } (top level, optional)", conf_daemon_items, true);
static const struct conf_table conf_tab_core =
	CONF_TABLE("NFS_CORE_PARAM", "NFS_CORE_PARAM { ... } (ganesha's; read only)",
		   conf_core_items, false);
static const struct conf_table conf_tab_nfsv4 =
	CONF_TABLE("NFSV4", "NFSV4 { ... } (ganesha's; read only)", conf_nfsv4_items, false);
static const struct conf_table conf_tab_krb5 =
	CONF_TABLE("NFS_KRB5", "NFS_KRB5 { ... } (ganesha's; read only)", conf_krb5_items, false);

#define CONF_MAX_ITEMS 64
#define CONF_N(items) (sizeof(items) / sizeof((items)[0]))
/* The seen[] arrays of conf_bind are this long: a table may not outgrow them. */
_Static_assert(CONF_N(conf_export_block_items) <= CONF_MAX_ITEMS, "CONF_MAX_ITEMS");
_Static_assert(CONF_N(conf_fsal_items) <= CONF_MAX_ITEMS, "CONF_MAX_ITEMS");
_Static_assert(CONF_N(conf_daemon_items) <= CONF_MAX_ITEMS, "CONF_MAX_ITEMS");
_Static_assert(CONF_N(conf_core_items) <= CONF_MAX_ITEMS, "CONF_MAX_ITEMS");
_Static_assert(CONF_N(conf_nfsv4_items) <= CONF_MAX_ITEMS, "CONF_MAX_ITEMS");
_Static_assert(CONF_N(conf_krb5_items) <= CONF_MAX_ITEMS, "CONF_MAX_ITEMS");

/* ------------------------------------------------------------------------------------
 * Values.
 */

/* A number as ganesha reads one: 0x.. hex, 0.. octal, else decimal. *end: after it. */
static int conf_parse_number(const char *s, uint64_t *out, const char **end)
{
	unsigned base = 10;
	uint64_t v = 0;
	const char *p = s;
	bool any = false;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && conf_xdigit(p[2])) {
		base = 16;
		p += 2;
	} else if (p[0] == '0' && conf_digit(p[1])) {
		base = 8;
		p++;
	}
	for (;; p++) {
		unsigned d;

		if (conf_digit(*p))
			d = (unsigned)(*p - '0');
		else if (base == 16 && conf_xdigit(*p))
			d = (unsigned)((*p | 0x20) - 'a' + 10);
		else
			break;
		if (d >= base)
			return EINVAL;
		if (v > (UINT64_MAX - d) / base)
			return ERANGE;
		v = v * base + d;
		any = true;
	}
	if (!any)
		return EINVAL;
	*out = v;
	*end = p;
	return 0;
}

/* "64M", "1G", "128KiB", "4096": binary multiples. */
static int conf_parse_size(const char *s, uint64_t *out)
{
	const char *end;
	uint64_t v, mult = 1;
	int rc = conf_parse_number(s, &v, &end);

	if (rc)
		return rc;
	if (*end) {
		switch (*end | 0x20) {
		case 'k': mult = KiB; break;
		case 'm': mult = MiB; break;
		case 'g': mult = GiB; break;
		case 't': mult = TiB; break;
		case 'p': mult = PiB; break;
		default: return EINVAL;
		}
		end++;
		if ((end[0] | 0x20) == 'i' && (end[1] | 0x20) == 'b')
			end += 2;
		if (*end)
			return EINVAL;
	}
	if (v > UINT64_MAX / mult)
		return ERANGE;
	*out = v * mult;
	return 0;
}

static int conf_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return EINVAL;
}

/* 64M rather than 67108864 in messages and docs. */
static const char *conf_fmt_size(uint64_t v, char *buf, size_t len)
{
	static const char suf[] = "KMGTP";
	int k = 0;

	while (v && k < 5 && v % KiB == 0) {
		v /= KiB;
		k++;
	}
	if (k)
		snprintf(buf, len, "%" PRIu64 "%c", v, suf[k - 1]);
	else
		snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

static const char *conf_fmt_num(const struct conf_item *it, uint64_t v, char *buf, size_t len)
{
	if (it->type == CT_SIZE)
		return conf_fmt_size(v, buf, len);
	snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

/*
 * Parse text as the value of it into base. false and why on failure. The message never
 * includes the value of a CF_SECRET item.
 */
static bool conf_value_set(const struct conf_item *it, const char *text, void *base, char *why,
			   size_t whylen)
{
	char shown[160], a[32], b[32];
	void *field = it->off == CONF_NOSTORE ? NULL : (char *)base + it->off;
	uint64_t v = 0;
	int rc;

	conf_show(text, strlen(text), shown, sizeof shown);
	switch (it->type) {
	case CT_STR: {
		size_t n = strlen(text);
		char *copy;

		if (n < it->min) {
			snprintf(why, whylen, n == 0 ? "must not be empty" :
				 "shorter than %" PRIu64 " characters", it->min);
			return false;
		}
		if (n > it->max) {
			snprintf(why, whylen, "longer than %" PRIu64 " characters", it->max);
			return false;
		}
		copy = strdup(text);
		if (!copy) {
			snprintf(why, whylen, "out of memory");
			return false;
		}
		if (it->check && !it->check(&copy, why, whylen)) {
			free(copy);
			return false;
		}
		if (!field) {
			free(copy);
			return true;
		}
		free(*(char **)field);
		*(char **)field = copy;
		return true;
	}
	case CT_ENUM:
		for (size_t i = 0; it->choices[i]; i++) {
			if (strcasecmp(text, it->choices[i]) == 0) {
				char *copy = strdup(it->choices[i]);

				if (!copy) {
					snprintf(why, whylen, "out of memory");
					return false;
				}
				free(*(char **)field);
				*(char **)field = copy;
				return true;
			}
		}
		{
			size_t o = (size_t)snprintf(why, whylen, "expected one of ");

			for (size_t i = 0; it->choices[i] && o < whylen; i++)
				o += (size_t)snprintf(why + o, whylen - o, "%s%s", i ? ", " : "",
						      it->choices[i]);
			if (o < whylen)
				snprintf(why + o, whylen - o, ", got \"%s\"", shown);
		}
		return false;
	case CT_BOOL: {
		bool bv;

		if (conf_parse_bool(text, &bv) != 0) {
			if (it->flags & CF_SECRET)
				snprintf(why, whylen, "expected true/false");
			else
				snprintf(why, whylen, "expected true/false (or yes/no, on/off, 1/0), "
					 "got \"%s\"", shown);
			return false;
		}
		*(bool *)field = bv;
		return true;
	}
	case CT_U16:
	case CT_U32:
	case CT_SIZE:
		if (it->type == CT_SIZE) {
			rc = conf_parse_size(text, &v);
		} else {
			const char *end;

			rc = conf_parse_number(text, &v, &end);
			if (rc == 0 && *end)
				rc = EINVAL;
		}
		if (rc == EINVAL) {
			if (it->type == CT_SIZE)
				snprintf(why, whylen, "expected a size like 64M (a number with an "
					 "optional K, M, G, T suffix), got \"%s\"", shown);
			else
				snprintf(why, whylen, "expected a number, got \"%s\"", shown);
			return false;
		}
		if (rc == ERANGE || v < it->min || v > it->max) {
			/* "0 is below the minimum 1 (range 1..86400)" */
			bool high = rc == ERANGE || v > it->max;
			char lim[32];

			snprintf(why, whylen, "%s is %s %s (range %s..%s)", shown,
				 high ? "above the maximum" : "below the minimum",
				 conf_fmt_num(it, high ? it->max : it->min, lim, sizeof lim),
				 conf_fmt_num(it, it->min, a, sizeof a),
				 conf_fmt_num(it, it->max, b, sizeof b));
			return false;
		}
		if (it->type == CT_U16)
			*(uint16_t *)field = (uint16_t)v;
		else if (it->type == CT_U32)
			*(uint32_t *)field = (uint32_t)v;
		else
			*(uint64_t *)field = v;
		return true;
	}
	return false;
}

/* Case-insensitive edit distance, for "did you mean". */
static size_t conf_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];

	if (la >= 63 || lb >= 63)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + ((a[i - 1] | 0x20) != (b[j - 1] | 0x20));
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, (lb + 1) * sizeof prev[0]);
	}
	return prev[lb];
}

static const struct conf_item *conf_item_find(const struct conf_table *tb, const char *name,
					      size_t *idx)
{
	for (size_t i = 0; i < tb->n; i++) {
		if (strcasecmp(tb->items[i].name, name) == 0) {
			*idx = i;
			return &tb->items[i];
		}
	}
	return NULL;
}

static bool conf_name_is(const struct conf_node *n, const char *name)
{
	return strcasecmp(n->name, name) == 0;
}

/*
 * Bind the statements of blk with table tb into base. seen[] (tb->n entries) records
 * the node that set each item; in a lenient table a later statement or block wins, as
 * in ganesha.
 */
static void conf_bind(struct conf_errs *e, const struct conf_node *blk, const struct conf_table *tb,
		      void *base, const struct conf_node **seen)
{
	char why[512];

	for (const struct conf_node *n = blk->child; n; n = n->next) {
		const struct conf_item *it;
		size_t idx;

		if (n->is_block) {
			if (tb->strict)
				conf_err(e, n->file, n->line, n->name, "unknown block inside %s",
					 tb->block);
			continue;
		}
		it = conf_item_find(tb, n->name, &idx);
		if (!it) {
			const char *best = NULL;
			size_t bd = 3;

			if (!tb->strict)
				continue;
			for (size_t i = 0; i < tb->n; i++) {
				size_t d = conf_distance(n->name, tb->items[i].name);

				if (d < bd) {
					bd = d;
					best = tb->items[i].name;
				}
			}
			if (best)
				conf_err(e, n->file, n->line, n->name, "unknown setting in %s block "
					 "(did you mean %s?)", tb->block, best);
			else
				conf_err(e, n->file, n->line, n->name, "unknown setting in %s block",
					 tb->block);
			continue;
		}
		if (n->n_vals == 0)
			continue;	/* `Key = ;` leaves the default, as in ganesha */
		if (seen[idx] && tb->strict) {
			if (seen[idx]->file == n->file)
				conf_err(e, n->file, n->line, it->name, "set more than once (first "
					 "at line %d)", seen[idx]->line);
			else
				conf_err(e, n->file, n->line, it->name, "set more than once (first "
					 "at %s:%d)", seen[idx]->file, seen[idx]->line);
			continue;
		}
		if (n->n_vals > 1) {
			seen[idx] = n;
			conf_err(e, n->file, n->line, it->name, "expected a single value, got a "
				 "list of %zu", n->n_vals);
			continue;
		}
		/* seen even when the value is bad: one error, not a second "missing" */
		seen[idx] = n;
		if (!conf_value_set(it, n->vals[0].text, base, why, sizeof why))
			conf_err(e, n->file, n->line, it->name, "%s", why);
		else if ((it->flags & CF_PLANNED) && e->warn)
			conf_err(e->warn, n->file, n->line, it->name, "accepted but not "
				 "implemented in this version: it has no effect yet");
	}
}

/* Defaults for what was not set; required items that are missing. */
static void conf_bind_finish(struct conf_errs *e, const char *file, int line,
			     const struct conf_table *tb, void *base, const struct conf_node **seen,
			     const char *where)
{
	char why[512];

	for (size_t i = 0; i < tb->n; i++) {
		const struct conf_item *it = &tb->items[i];

		if (seen[i])
			continue;
		if (it->flags & CF_REQUIRED) {
			conf_err(e, file, line, it->name, "required setting missing from %s", where);
			continue;
		}
		if (it->def && !conf_value_set(it, it->def, base, why, sizeof why))
			conf_err(e, file, line, it->name, "bad built-in default: %s", why);
	}
}

static void conf_free_fields(const struct conf_table *tb, void *base)
{
	for (size_t i = 0; i < tb->n; i++) {
		const struct conf_item *it = &tb->items[i];

		if ((it->type == CT_STR || it->type == CT_ENUM) && it->off != CONF_NOSTORE) {
			char **p = (char **)((char *)base + it->off);

			free(*p);
			*p = NULL;
		}
	}
}

/* ------------------------------------------------------------------------------------
 * struct conf from the tree.
 */

static const struct conf_node *conf_child_block(const struct conf_node *blk, const char *name)
{
	for (const struct conf_node *n = blk->child; n; n = n->next)
		if (n->is_block && conf_name_is(n, name))
			return n;
	return NULL;
}

static const struct conf_node *conf_child_stmt(const struct conf_node *blk, const char *name)
{
	const struct conf_node *last = NULL;

	for (const struct conf_node *n = blk->child; n; n = n->next)
		if (!n->is_block && conf_name_is(n, name))
			last = n;
	return last;
}

/* The FSAL block of an EXPORT if it is ours. */
static const struct conf_node *conf_s3files_fsal(const struct conf_node *exp)
{
	const struct conf_node *fsal = conf_child_block(exp, "FSAL");
	const struct conf_node *name;

	if (!fsal)
		return NULL;
	name = conf_child_stmt(fsal, "Name");
	if (!name || name->n_vals != 1 || strcasecmp(name->vals[0].text, "S3FILES") != 0)
		return NULL;
	return fsal;
}

static const struct conf_file *conf_file_of(const struct conf_parse *ps, const char *file)
{
	for (size_t i = 0; i < ps->n_files; i++)
		if (ps->files[i].path == file)
			return &ps->files[i];
	return NULL;
}

static char *conf_join(const char *dir, const char *name, bool *oom)
{
	char *s;

	if (asprintf(&s, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, name) < 0) {
		*oom = true;
		return NULL;
	}
	return s;
}

static void conf_bind_export(struct conf_parse *ps, struct conf *c, const struct conf_node *exp,
			     const struct conf_node *fsal, struct conf_export *x, bool *oom)
{
	const struct conf_node *seen_exp[CONF_MAX_ITEMS] = { 0 };
	const struct conf_node *seen_fsal[CONF_MAX_ITEMS] = { 0 };
	struct conf_errs *e = ps->errs;
	size_t ik = 0, is = 0, ie = 0;
	const struct conf_item *it;

	x->src_file = strdup(exp->file);
	if (!x->src_file)
		*oom = true;
	x->src_line = exp->line;
	conf_bind(e, exp, &conf_tab_export, x, seen_exp);
	conf_bind_finish(e, exp->file, exp->line, &conf_tab_export, x, seen_exp,
			 "the EXPORT block");
	conf_bind(e, fsal, &conf_tab_fsal, x, seen_fsal);
	conf_bind_finish(e, fsal->file, fsal->line, &conf_tab_fsal, x, seen_fsal,
			 "the S3FILES FSAL block");

	/* Export_Id must name one export */
	(void)conf_item_find(&conf_tab_export, "Export_Id", &ie);
	if (seen_exp[ie] && x->export_id != 0) {
		for (size_t i = 0; i < c->n_exports; i++) {
			if (c->exports[i].export_id == x->export_id) {
				conf_err(e, seen_exp[ie]->file, seen_exp[ie]->line, "Export_Id",
					 "%" PRIu32 " is already used by the S3FILES export at %s:%d",
					 x->export_id, c->exports[i].src_file, c->exports[i].src_line);
				break;
			}
		}
	}

	/* keys come in pairs */
	(void)conf_item_find(&conf_tab_fsal, "Access_Key_Id", &ik);
	(void)conf_item_find(&conf_tab_fsal, "Secret_Access_Key", &is);
	if (seen_fsal[ik] && !seen_fsal[is])
		conf_err(e, seen_fsal[ik]->file, seen_fsal[ik]->line, "Access_Key_Id",
			 "Secret_Access_Key must be set too");
	if (seen_fsal[is] && !seen_fsal[ik])
		conf_err(e, seen_fsal[is]->file, seen_fsal[is]->line, "Secret_Access_Key",
			 "Access_Key_Id must be set too");
	if (seen_fsal[is]) {
		const struct conf_file *f = conf_file_of(ps, seen_fsal[is]->file);

		if (f && f->on_disk && (f->mode & (S_IRGRP | S_IROTH)))
			LOG_WARN(LOG_C_CONF, "%s:%d: Secret_Access_Key is in a file readable by "
				 "%s (mode %04o); chmod 600 it or use Credentials_File",
				 f->path, seen_fsal[is]->line,
				 (f->mode & S_IROTH) ? "others" : "its group",
				 (unsigned)(f->mode & 07777));
	}

	/* derived defaults */
	it = conf_item_find(&conf_tab_fsal, "Path_Style", &ik);
	if (it && !seen_fsal[ik])
		x->path_style = x->endpoint != NULL;
	if (x->state_dir) {
		if (!x->meta_dir)
			x->meta_dir = conf_join(x->state_dir, "meta", oom);
		if (!x->data_dir)
			x->data_dir = conf_join(x->state_dir, "data", oom);
		if (!x->journal_path)
			x->journal_path = conf_join(x->state_dir, "events.jsonl", oom);
	}
	/* TLS_Verify = false is honoured (export_ctx_s3_config), and said at every start */
	if (!x->tls_verify)
		LOG_WARN(LOG_C_CONF, "%s:%d: export %" PRIu32 ": TLS_Verify = false: the S3 "
			 "server's certificate and host name are not verified%s",
			 x->src_file ? x->src_file : "?", x->src_line, x->export_id,
			 x->endpoint && strncmp(x->endpoint, "https:", 6) != 0
				 ? " (the endpoint is plain http: nothing is encrypted either)" : "");
}

static void conf_export_free(struct conf_export *x)
{
	conf_free_fields(&conf_tab_export, x);
	conf_free_fields(&conf_tab_fsal, x);
	free(x->src_file);
}

void conf_free(struct conf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_exports; i++)
		conf_export_free(&c->exports[i]);
	free(c->exports);
	conf_free_fields(&conf_tab_daemon, &c->daemon);
	conf_free_fields(&conf_tab_core, &c->ganesha);
	conf_free_fields(&conf_tab_nfsv4, &c->ganesha);
	conf_free_fields(&conf_tab_krb5, &c->ganesha);
	free(c->warnings);
	free(c->path);
	free(c);
}

/* Top-level blocks in file order, so errors come out in the order of the file. */
static int conf_build(struct conf_parse *ps, const char *path, struct conf **out)
{
	static const struct conf_table *const gtabs[] = {
		&conf_tab_core, &conf_tab_nfsv4, &conf_tab_krb5,
	};
	const struct conf_node *gseen[3][CONF_MAX_ITEMS] = { { 0 } };
	const struct conf_node *dseen[CONF_MAX_ITEMS] = { 0 };
	const struct conf_node *daemon_blk = NULL;
	struct conf *c;
	size_t n_exp = 0;
	bool oom = false;

	c = calloc(1, sizeof *c);
	if (!c)
		return ENOMEM;
	c->path = strdup(path);
	if (!c->path)
		oom = true;
	for (const struct conf_node *n = ps->root.child; n; n = n->next)
		if (n->is_block && conf_name_is(n, "EXPORT") && conf_s3files_fsal(n))
			n_exp++;
	if (n_exp) {
		c->exports = calloc(n_exp, sizeof *c->exports);
		if (!c->exports) {
			conf_free(c);
			return ENOMEM;
		}
	}

	for (const struct conf_node *n = ps->root.child; n; n = n->next) {
		const struct conf_node *fsal;

		if (!n->is_block)
			continue;
		for (size_t g = 0; g < 3; g++)
			if (conf_name_is(n, gtabs[g]->block))
				conf_bind(ps->errs, n, gtabs[g], &c->ganesha, gseen[g]);
		if (conf_name_is(n, "S3FILES")) {
			if (daemon_blk) {
				conf_err(ps->errs, n->file, n->line, "S3FILES", "only one S3FILES "
					 "block is allowed (the first is at %s:%d)", daemon_blk->file,
					 daemon_blk->line);
				continue;
			}
			daemon_blk = n;
			conf_bind(ps->errs, n, &conf_tab_daemon, &c->daemon, dseen);
		}
		if (conf_name_is(n, "EXPORT") && (fsal = conf_s3files_fsal(n))) {
			conf_bind_export(ps, c, n, fsal, &c->exports[c->n_exports], &oom);
			c->n_exports++;
		}
	}
	for (size_t g = 0; g < 3; g++)
		conf_bind_finish(ps->errs, "", 0, gtabs[g], &c->ganesha, gseen[g], gtabs[g]->block);
	conf_bind_finish(ps->errs, daemon_blk ? daemon_blk->file : "",
			 daemon_blk ? daemon_blk->line : 0, &conf_tab_daemon, &c->daemon, dseen,
			 "the S3FILES block");

	if (oom || ps->errs->oom) {
		conf_free(c);
		return ENOMEM;
	}
	if (ps->errs->n) {
		conf_free(c);
		return S3F_E_CONFIG;
	}
	if (ps->errs->warn && ps->errs->warn->len) {
		c->warnings = strdup(ps->errs->warn->buf);
		if (!c->warnings) {
			conf_free(c);
			return ENOMEM;
		}
	}
	*out = c;
	return 0;
}

/* ------------------------------------------------------------------------------------
 * Entry points.
 */

static char *conf_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

static void conf_parse_fini(struct conf_parse *ps)
{
	conf_node_free(ps->root.child);
	for (size_t i = 0; i < ps->n_files; i++)
		free(ps->files[i].path);
	free(ps->dir);
}

/* Shared tail of conf_load and conf_load_string: text is the top-level file. */
static int conf_load_text(const char *name, const char *text, size_t len, const struct stat *st,
			  struct conf **out, char *err, size_t errlen)
{
	struct conf_errs warns = { 0 };
	struct conf_errs errs = { .warn = &warns };
	struct conf_parse *ps;
	struct conf_file *f;
	int rc;

	*out = NULL;
	ps = calloc(1, sizeof *ps);
	if (!ps) {
		rc = ENOMEM;
		goto out;
	}
	ps->errs = &errs;
	ps->root.is_block = true;
	ps->dir = conf_dirname(name);
	if (!ps->dir) {
		rc = ENOMEM;
		goto out_parse;
	}
	f = conf_file_add(ps, name, st != NULL, st, name, 0, "");
	if (!f) {
		rc = ENOMEM;
		goto out_parse;
	}
	conf_parse_buf(ps, f, text, len, 0);
	if (ps->oom || errs.oom) {
		rc = ENOMEM;
		goto out_parse;
	}
	if (ps->syntax || errs.n) {
		rc = S3F_E_CONFIG;
		goto out_parse;
	}
	rc = conf_build(ps, name, out);
out_parse:
	conf_parse_fini(ps);
	free(ps);
out:
	if (rc == ENOMEM && errs.len == 0)
		conf_errs_add(&errs, "out of memory\n", 14);
	if (rc)
		conf_errs_out(&errs, err, errlen);
	else if (err && errlen)
		err[0] = '\0';
	free(errs.buf);
	free(warns.buf);
	return rc;
}

int conf_load(const char *path, struct conf **out, char *err, size_t errlen)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	rc = conf_read_file(path, &text, &len, &st);
	if (rc) {
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(rc));
		return rc;
	}
	rc = conf_load_text(path, text, len, &st, out, err, errlen);
	free(text);
	return rc;
}

int conf_load_string(const char *name, const char *text, struct conf **out, char *err,
		     size_t errlen)
{
	return conf_load_text(name, text, strlen(text), NULL, out, err, errlen);
}

const struct conf_export *conf_export_by_id(const struct conf *c, uint32_t export_id)
{
	for (size_t i = 0; c && i < c->n_exports; i++)
		if (c->exports[i].export_id == export_id)
			return &c->exports[i];
	return NULL;
}

/* ------------------------------------------------------------------------------------
 * conf_describe
 */

static const char *conf_type_name(const struct conf_item *it)
{
	switch (it->type) {
	case CT_STR: return it->check == conf_check_abspath ? "path" : "string";
	case CT_BOOL: return "bool";
	case CT_U16:
	case CT_U32: return "integer";
	case CT_SIZE: return "size";
	case CT_ENUM: return "enum";
	}
	return "?";
}

/* The default and the limits of an item, as both descriptions show them. */
static void conf_item_doc(const struct conf_item *it, char *def, size_t defcap, char *lim,
			  size_t limcap)
{
	char a[32], b[32];

	if (it->flags & CF_REQUIRED)
		snprintf(def, defcap, "required");
	else if (it->def_doc)
		snprintf(def, defcap, "default: %s", it->def_doc);
	else if (it->def && it->def[0])
		snprintf(def, defcap, "default: %s", it->def);
	else if (it->def)
		snprintf(def, defcap, "default: \"\"");
	else
		snprintf(def, defcap, "default: none");

	lim[0] = '\0';
	if (it->type == CT_U16 || it->type == CT_U32 || it->type == CT_SIZE) {
		snprintf(lim, limcap, "%s..%s", conf_fmt_num(it, it->min, a, sizeof a),
			 conf_fmt_num(it, it->max, b, sizeof b));
	} else if (it->type == CT_ENUM) {
		size_t o = 0;

		for (size_t k = 0; it->choices[k] && o < limcap; k++)
			o += (size_t)snprintf(lim + o, limcap - o, "%s%s", k ? "|" : "",
					      it->choices[k]);
	} else if (it->type == CT_STR && it->off != CONF_NOSTORE) {
		snprintf(lim, limcap, "%" PRIu64 "..%" PRIu64 " chars", it->min, it->max);
	}
}

static void conf_describe_table(FILE *out, const struct conf_table *tb)
{
	fprintf(out, "\n%s\n", tb->heading);
	for (size_t i = 0; i < tb->n; i++) {
		const struct conf_item *it = &tb->items[i];
		char def[96], lim[96];

		conf_item_doc(it, def, sizeof def, lim, sizeof lim);
		fprintf(out, "  %-22s %-8s %-15s %s\n", it->name, conf_type_name(it), lim, def);
		if (it->desc[0])
			fprintf(out, "  %-22s %s\n", "", it->desc);
		if (it->flags & CF_PLANNED)
			fprintf(out, "  %-22s (not implemented yet: accepted, warned about, no "
				"effect)\n", "");
	}
}

/* Text for roff: a backslash as \e, '-' as \- (a real minus, as in option names), and
 * a line never starting with '.' or '\'' (a request). */
static void conf_roff(FILE *out, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", out);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", out);
		else if (*s == '-')
			fputs("\\-", out);
		else
			fputc(*s, out);
	}
}

static void conf_describe_table_man(FILE *out, const struct conf_table *tb)
{
	fputs(".SS \"", out);
	conf_roff(out, tb->heading);
	fputs("\"\n", out);
	for (size_t i = 0; i < tb->n; i++) {
		const struct conf_item *it = &tb->items[i];
		char def[96], lim[96];

		conf_item_doc(it, def, sizeof def, lim, sizeof lim);
		fputs(".TP\n.B ", out);
		conf_roff(out, it->name);
		fprintf(out, "\n\\fI%s\\fR", conf_type_name(it));
		if (lim[0]) {
			fputs(", ", out);
			conf_roff(out, lim);
		}
		fputs("; ", out);
		conf_roff(out, def);
		fputs("\n", out);
		if (it->desc[0]) {
			fputs(".br\n", out);
			conf_roff(out, it->desc);
			fputs("\n", out);
		}
		if (it->flags & CF_PLANNED)
			fputs(".br\n(Not implemented yet: accepted, warned about, no effect.)\n", out);
	}
}

void conf_describe_man(FILE *out)
{
	conf_describe_table_man(out, &conf_tab_fsal);
	conf_describe_table_man(out, &conf_tab_export);
	conf_describe_table_man(out, &conf_tab_daemon);
	conf_describe_table_man(out, &conf_tab_core);
	conf_describe_table_man(out, &conf_tab_nfsv4);
	conf_describe_table_man(out, &conf_tab_krb5);
}

void conf_describe(FILE *out)
{
	fprintf(out,
		"s3files settings in ganesha.conf (names are case-insensitive).\n"
		"Sizes take K, M, G, T suffixes (binary: 64M = 64 MiB) and must then be quoted,\n"
		"e.g. Part_Size = \"64M\"; plain numbers need no quotes (0x.. is hex and a\n"
		"leading 0 is octal, as in ganesha). Bools: true/false, yes/no, on/off, 1/0.\n"
		"Values that are not a plain name, number or path (URLs, host:port, secrets)\n"
		"must be in double quotes.\n");
	conf_describe_table(out, &conf_tab_fsal);
	conf_describe_table(out, &conf_tab_export);
	conf_describe_table(out, &conf_tab_daemon);
	conf_describe_table(out, &conf_tab_core);
	conf_describe_table(out, &conf_tab_nfsv4);
	conf_describe_table(out, &conf_tab_krb5);
}
