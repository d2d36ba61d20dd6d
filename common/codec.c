/*
 * codec.c: the byte-to-text encodings everyone needs, once: base64 (RFC 4648
 * section 4, padded) and base64url (section 5, unpadded) on OpenSSL's EVP
 * block coder, lowercase hex, and percent-encoding (RFC 3986).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <openssl/evp.h>

#include "common.h"

/* EVP's block coder takes an int: whole groups at a time, well under INT_MAX. */
#define CODEC_CHUNK	(3 * 4 * 1024 * 1024)	/* a multiple of 3 and of 4 */

static const char codec_b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char codec_b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encodes @n bytes as padded base64; caller frees. */
char *
codec_b64_encode(const void *data, size_t n)
{
	const unsigned char	*p = data;
	char			*out, *o;
	size_t			 c;

	if ((n + 2) / 3 > (SIZE_MAX - 1) / 4)
		fatalx("codec: %zu bytes is too long to encode", n);
	o = out = xmalloc((n + 2) / 3 * 4 + 1);
	*o = '\0';
	for (; n > 0; p += c, n -= c) {
		c = n < CODEC_CHUNK ? n : CODEC_CHUNK;
		o += EVP_EncodeBlock((unsigned char *)o, p, (int)c);
	}
	return (out);
}

/*
 * Is [s, s+len), the part before any '=', made of @alphabet only, of a
 * length an encoder writes, with zero bits past the data in its last
 * character?  Refuses everything an encoder never writes.
 */
static int
codec_b64_canonical(const char *s, size_t len, const char *alphabet)
{
	const char	*hit;
	size_t		 i;
	int		 v = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\0' || (hit = strchr(alphabet, s[i])) == NULL)
			return (0);
		v = (int)(hit - alphabet);
	}
	if (len % 4 == 2)
		return ((v & 0x0f) == 0);
	if (len % 4 == 3)
		return ((v & 0x03) == 0);
	return (len % 4 == 0);
}

/*
 * Decodes checked padded standard base64 @s (@len bytes, a multiple of 4,
 * @pad of them '=') into an owned buffer with a NUL after the data; 0, or
 * -1 if EVP refuses it after all.
 */
static int
codec_b64_block_decode(const char *s, size_t len, size_t pad,
    unsigned char **out, size_t *outlen)
{
	size_t		 c, size = len / 4 * 3 + 1;
	unsigned char	*buf = xmalloc(size), *o = buf;
	int		 r;

	for (; len > 0; s += c, len -= c) {
		c = len < CODEC_CHUNK ? len : CODEC_CHUNK;
		if ((r = EVP_DecodeBlock(o, (const unsigned char *)s, (int)c)) < 0) {
			freezero(buf, size);
			return (-1);
		}
		o += r;
	}
	*outlen = (size_t)(o - buf) - pad;
	buf[*outlen] = '\0';
	*out = buf;
	return (0);
}

/*
 * Decodes padded base64 @s (@len bytes) into an owned buffer (caller frees,
 * freezero for secrets) with a NUL after its *outlen bytes: 0, or -1 for
 * whitespace, characters outside the alphabet, misplaced or missing '=',
 * a length not a multiple of 4 or non-zero bits past the data.
 */
int
codec_b64_decode(const char *s, size_t len, unsigned char **out, size_t *outlen)
{
	size_t	pad = 0;

	*out = NULL;
	*outlen = 0;
	if (len % 4 != 0)
		return (-1);
	if (len > 0 && s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	if (!codec_b64_canonical(s, len - pad, codec_b64_std))
		return (-1);
	return (codec_b64_block_decode(s, len, pad, out, outlen));
}

/* Encodes @n bytes as unpadded base64url; caller frees. */
char *
codec_b64url_encode(const void *p, size_t n)
{
	char	*out = codec_b64_encode(p, n), *o;

	for (o = out; *o != '\0' && *o != '='; o++) {
		if (*o == '+')
			*o = '-';
		else if (*o == '/')
			*o = '_';
	}
	*o = '\0';
	return (out);
}

/*
 * Decodes unpadded base64url @s (@len bytes) like codec_b64_decode: -1 for
 * padding, '+' or '/', any other character outside the alphabet, a length
 * of 4n+1 or non-zero bits past the data.
 */
int
codec_b64url_decode(const char *s, size_t len, unsigned char **out,
    size_t *outlen)
{
	char	*std;
	size_t	 i, pad = (4 - len % 4) % 4;
	int	 rv;

	*out = NULL;
	*outlen = 0;
	if (!codec_b64_canonical(s, len, codec_b64_url))
		return (-1);
	std = xmalloc(len + pad + 1);
	for (i = 0; i < len; i++)
		std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	memset(std + len, '=', pad);
	std[len + pad] = '\0';
	rv = codec_b64_block_decode(std, len + pad, pad, out, outlen);
	freezero(std, len + pad + 1);
	return (rv);
}

/* Writes @n bytes as lowercase hex into @out, which holds 2 * @n + 1. */
void
codec_hex(char *out, const void *p, size_t n)
{
	static const char	 digits[] = "0123456789abcdef";
	const unsigned char	*b = p;
	size_t			 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

/* A hex digit's value, or -1. */
static int
codec_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/*
 * Reads the @slen hex digits at @s (either case) into the @n bytes at @out:
 * 0, or -1 for a non-digit or unless @slen is 2 * @n.
 */
int
codec_unhex(void *out, size_t n, const char *s, size_t slen)
{
	unsigned char	*b = out;
	size_t		 i;
	int		 hi, lo;

	if (slen != 2 * n)
		return (-1);
	for (i = 0; i < n; i++) {
		if ((hi = codec_hexval(s[2 * i])) == -1 ||
		    (lo = codec_hexval(s[2 * i + 1])) == -1)
			return (-1);
		b[i] = (unsigned char)(hi << 4 | lo);
	}
	return (0);
}

/*
 * Appends @s to @b percent-encoded (%XX, uppercase): every byte but RFC
 * 3986's unreserved ones (letters, digits, "-._~") and those in @keep
 * (NULL: none).
 */
void
codec_pct_encode(struct evbuffer *b, const char *s, const char *keep)
{
	unsigned char	c;

	for (; (c = (unsigned char)*s) != '\0'; s++) {
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c) != NULL ||
		    (keep != NULL && strchr(keep, c) != NULL))
			evbuffer_add(b, s, 1);
		else
			evbuffer_add_printf(b, "%%%02X", c);
	}
}
