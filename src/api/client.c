/* client.c - the CLI side of the API, see client.h. */
#include "api/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "api/client_table.h"
#include "config.h"
#include "util.h"

/* A list of 10,000 machines is about 2 MB; this bounds a wrong or
 * hostile server, not a real answer. */
#define CLIENT_BODY_MAX (64u << 20)
#define CLIENT_CONNECT_TIMEOUT_SEC 5L
#define CLIENT_TIMEOUT_SEC 30L
#define CLIENT_URL_MAX 2048
#define CLIENT_DEFAULT_API "http://127.0.0.1:8080"

static const struct {
	const char *name;
	enum client_list list;
	const char *what;
} commands[] = {
	{ "machines", CLIENT_MACHINES, "every machine kidou knows: its [host], lease and last boot" },
	{ "leases", CLIENT_LEASES, "the addresses leased or offered now" },
	{ "hosts", CLIENT_HOSTS, "the [host] sections" },
	{ "profiles", CLIENT_PROFILES, "the [profile] sections" },
};

/* The one write: PUT /api/v1/machines/{mac}/next-boot. */
#define CLIENT_NEXT_BOOT "next-boot"

struct client_opts {
	const char *name;
	enum client_list list;
	bool next_boot;         /* kidou next-boot, not a list */
	const char *mac;        /* next-boot: MAC, as given */
	const char *profile;    /* next-boot: PROFILE */
	bool once, local, dflt; /* next-boot: --once, --local, --default */
	char path[64];          /* under /api/v1/ */
	const char *api;        /* --api */
	const char *config;     /* --config */
	const char *token_file; /* --token-file */
	bool json;
};

struct body {
	char *buf;
	size_t len, cap;
	bool too_big;
};

bool client_is_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(name, commands[i].name) == 0)
			return true;
	return strcmp(name, CLIENT_NEXT_BOOT) == 0;
}

static void usage(FILE *out, const char *name, const char *what)
{
	fprintf(out,
		"Usage: kidou %s [--api URL | --config FILE] [--token-file FILE] [--json]\n"
		"\n"
		"Show %s.\n"
		"Asks a running kidou's API (GET /api/v1/%s) and prints a table, or the\n"
		"JSON received with --json.\n"
		"\n"
		"  --api URL          the API's base URL (default: from --config, else\n"
		"                     " CLIENT_DEFAULT_API ")\n"
		"  -c, --config FILE  kidou's config: the API is at [api] listen, else\n"
		"                     [http] listen (0.0.0.0 as 127.0.0.1); the token is\n"
		"                     its [api] token-file\n"
		"  --token-file FILE  send the token in FILE (Authorization: Bearer), for\n"
		"                     [api] read-token = yes\n"
		"  --json             print the JSON received, pretty-printed\n"
		"  -h, --help         show this help\n"
		"\n"
		"Exit status: 0, or 1 with one line on stderr (API unreachable, an HTTP\n"
		"error with the API's reason, a bad answer).\n",
		name, what, name);
}

static void usage_next_boot(FILE *out)
{
	fprintf(out,
		"Usage: kidou next-boot MAC (PROFILE [--once] | --local | --default)\n"
		"                       [--api URL | --config FILE] [--token-file FILE] [--json]\n"
		"\n"
		"Set what the machine MAC boots next, on a running kidou\n"
		"(PUT /api/v1/machines/MAC/next-boot; kidou must be the DHCP server).\n"
		"\n"
		"  PROFILE            boot this [profile] on every boot\n"
		"  PROFILE --once     boot it until the installer reports done\n"
		"                     (${done_url}), then from the local disk\n"
		"  --local            boot from the local disk, until set again\n"
		"  --default          forget the setting: the [host] profile, else\n"
		"                     [boot] profile\n"
		"  --api URL          the API's base URL (default: from --config, else\n"
		"                     " CLIENT_DEFAULT_API ")\n"
		"  -c, --config FILE  kidou's config: the API is at [api] listen, else\n"
		"                     [http] listen; the token is its [api] token-file\n"
		"  --token-file FILE  the API token (Authorization: Bearer); a write\n"
		"                     needs it\n"
		"  --json             print the JSON answer, which includes the\n"
		"                     once-install's done_token (not shown otherwise)\n"
		"  -h, --help         show this help\n"
		"\n"
		"MAC as 52:54:00:12:34:56, 52-54-00-12-34-56 or 525400123456. Prints the\n"
		"machine's new next boot in one line.\n"
		"\n"
		"Exit status: 0; 1 with one line on stderr (no token, API unreachable,\n"
		"the API's refusal with its reason and field); 2 on a usage error.\n");
}

/* next-boot's own arguments; 1 when arg was one. */
static int parse_next_boot_arg(struct client_opts *o, const char *arg)
{
	if (strcmp(arg, "--once") == 0)
		o->once = true;
	else if (strcmp(arg, "--local") == 0)
		o->local = true;
	else if (strcmp(arg, "--default") == 0)
		o->dflt = true;
	else if (arg[0] == '-' || (o->mac && o->profile))
		return 0;
	else if (!o->mac)
		o->mac = arg;
	else
		o->profile = arg;
	return 1;
}

/* The rules of the body (docs/api.md), checked before anything is sent. */
static int check_next_boot(struct client_opts *o)
{
	uint8_t mac[6];

	if (!o->mac) {
		fprintf(stderr, "kidou next-boot: give the machine's MAC (see --help)\n");
		return -1;
	}
	if (config_parse_mac(o->mac, mac) < 0) {
		fprintf(stderr, "kidou next-boot: '%s' is no MAC address (52:54:00:12:34:56, "
			"52-54-00-12-34-56 or 525400123456)\n", o->mac);
		return -1;
	}
	if ((o->profile != NULL) + o->local + o->dflt != 1) {
		fprintf(stderr, "kidou next-boot: give exactly one of PROFILE, --local, --default\n");
		return -1;
	}
	if (o->once && !o->profile) {
		fprintf(stderr, "kidou next-boot: --once goes with a PROFILE\n");
		return -1;
	}
	snprintf(o->path, sizeof(o->path), "machines/%02x:%02x:%02x:%02x:%02x:%02x/next-boot",
		 mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return 0;
}

static int parse_opts(int argc, char **argv, struct client_opts *o)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(argv[0], commands[i].name) == 0) {
			o->name = commands[i].name;
			o->list = commands[i].list;
		}
	}
	if (strcmp(argv[0], CLIENT_NEXT_BOOT) == 0) {
		o->name = CLIENT_NEXT_BOOT;
		o->next_boot = true;
	} else {
		snprintf(o->path, sizeof(o->path), "%s", client_list_path(o->list));
	}
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *value = NULL, *eq = NULL;
		const char **slot = NULL;
		size_t n;

		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			if (o->next_boot)
				usage_next_boot(stdout);
			else
				usage(stdout, o->name, commands[o->list].what);
			return 1;
		}
		if (o->next_boot && parse_next_boot_arg(o, arg))
			continue;
		if (strcmp(arg, "--json") == 0) {
			o->json = true;
			continue;
		}
		if (strcmp(arg, "-c") == 0)
			arg = "--config";
		eq = strchr(arg, '=');
		n = eq ? (size_t)(eq - arg) : strlen(arg);
		if (n == 5 && strncmp(arg, "--api", n) == 0)
			slot = &o->api;
		else if (n == 8 && strncmp(arg, "--config", n) == 0)
			slot = &o->config;
		else if (n == 12 && strncmp(arg, "--token-file", n) == 0)
			slot = &o->token_file;
		if (!slot) {
			fprintf(stderr, "kidou %s: unknown argument '%s' (see --help)\n", o->name, arg);
			return -1;
		}
		if (eq) {
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			fprintf(stderr, "kidou %s: %.*s needs a value\n", o->name, (int)n, arg);
			return -1;
		}
		*slot = value;
	}
	return o->next_boot ? check_next_boot(o) : 0;
}

/* The token in path: one line of printable characters, the newline an
 * editor adds dropped (the same rule as kidou's [api] token-file). */
static int read_token(const char *path, char **ret, char *err, size_t errsize)
{
	char buf[API_TOKEN_MAX + 3];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		snprintf(err, errsize, "token file \"%s\": %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errsize, "token file \"%s\": not a regular file", path);
		return -EINVAL;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errsize, "token file \"%s\": %s", path, strerror(errno));
		return -EIO;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] <= ' ' || buf[i] >= 0x7f)
			n = -1;
	}
	if (n < API_TOKEN_MIN || n > API_TOKEN_MAX) {
		explicit_bzero(buf, sizeof(buf));
		snprintf(err, errsize, "token file \"%s\": the token must be one line of %d..%d "
			 "printable characters without spaces", path, API_TOKEN_MIN, API_TOKEN_MAX);
		return -EINVAL;
	}
	*ret = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return *ret ? 0 : -ENOMEM;
}

/* The base URL and token from kidou's own config file. A wildcard listen
 * address is reached on loopback. */
static int from_config(const struct client_opts *o, char *url, size_t urlsize, char **token,
		       char *err, size_t errsize)
{
	struct config *c = NULL;
	const struct sockaddr_in *sa;
	char addr[INET_ADDRSTRLEN];
	int r = config_build(o->config, NULL, 0, &c, err, errsize);

	if (r < 0)
		return r;
	if (c->api.own_listen) {
		sa = &c->api.listen;
	} else if (c->http.enabled) {
		sa = &c->http.listen;
	} else {
		snprintf(err, errsize, "%s sets neither [api] listen nor [http] listen: kidou "
			 "serves no API (or give --api URL)", o->config);
		config_free(c);
		return -EINVAL;
	}
	if (sa->sin_addr.s_addr == htonl(INADDR_ANY))
		strcpy(addr, "127.0.0.1");
	else
		inet_ntop(AF_INET, &sa->sin_addr, addr, sizeof(addr));
	if (!o->api)
		snprintf(url, urlsize, "http://%s:%u", addr, (unsigned)ntohs(sa->sin_port));
	if (!o->token_file && c->api.token) {
		*token = strdup(c->api.token);
		r = *token ? 0 : -ENOMEM;
	}
	config_free(c);
	return r;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct body *b = userdata;
	size_t n = size * nmemb;

	if (n > CLIENT_BODY_MAX - b->len) {
		b->too_big = true;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		char *nb;

		while (b->len + n + 1 > cap)
			cap *= 2;
		nb = realloc(b->buf, cap);
		if (!nb)
			return 0;
		b->buf = nb;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, data, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return n;
}

/* One line of server text for the terminal. */
static void print_escaped(FILE *out, const char *s)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (client_escape(s, 300, &buf, &len, &cap) >= 0 && buf)
		fputs(buf, out);
	free(buf);
}

/* A non-200 answer: its status and the API's "error" text. */
static void report_http_error(const struct client_opts *o, const char *base, long status,
			      const struct body *b, bool had_token)
{
	json_t *doc = b->len ? json_loadb(b->buf, b->len, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(doc, "error"));
	const char *field = json_string_value(json_object_get(doc, "field"));

	fprintf(stderr, "kidou: the API at %s answered %ld: ", base, status);
	print_escaped(stderr, msg ? msg : "no JSON error text (is this kidou's API address?)");
	/* The field, unless the text starts with it already (the next-boot
	 * body's refusals read "profile: no such profile ..."). */
	if (msg && field && !(strncmp(msg, field, strlen(field)) == 0 &&
			      msg[strlen(field)] == ':')) {
		fputs(" (field: ", stderr);
		print_escaped(stderr, field);
		fputc(')', stderr);
	}
	if (status == 401 && !had_token)
		fputs(" (give --token-file FILE, or --config with [api] token-file)", stderr);
	fputc('\n', stderr);
	json_decref(doc);
}

static int print_answer(const struct client_opts *o, const char *base, const struct body *b)
{
	json_error_t jerr;
	json_t *doc = json_loadb(b->buf ? b->buf : "", b->len, 0, &jerr);
	char *text = NULL;
	int r;

	if (!doc) {
		fprintf(stderr, "kidou: the API at %s answered no JSON: ", base);
		print_escaped(stderr, jerr.text);
		fputc('\n', stderr);
		return 1;
	}
	if (o->json) {
		/* ASCII only: a string's control or bidi characters reach the
		 * terminal as \u escapes, still the same JSON to a tool. */
		text = json_dumps(doc, JSON_INDENT(2) | JSON_ENSURE_ASCII);
		r = text ? 0 : -ENOMEM;
	} else if (o->next_boot) {
		r = client_next_boot_line(doc, &text);
	} else {
		r = client_table(o->list, doc, &text);
	}
	json_decref(doc);
	if (r == -EBADMSG && o->next_boot) {
		fprintf(stderr, "kidou: the API at %s answered JSON that is no machine's state\n",
			base);
		return 1;
	}
	if (r == -EBADMSG) {
		fprintf(stderr, "kidou: the API at %s answered JSON that is not a list of %s\n",
			base, o->name);
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, "kidou: out of memory\n");
		return 1;
	}
	fputs(text, stdout);
	if (o->json)
		fputc('\n', stdout);
	free(text);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "kidou: cannot write the output: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

/* GET o->path, or PUT body there. */
static int fetch(const struct client_opts *o, const char *base, const char *token,
		 const char *body)
{
	char url[CLIENT_URL_MAX + 32], errbuf[CURL_ERROR_SIZE] = "";
	_cleanup_free_ char *auth = NULL;
	struct curl_slist *headers = NULL;
	struct body b = { 0 };
	long status = 0;
	CURLcode rc;
	CURL *curl;
	int ret = 1;

	snprintf(url, sizeof(url), "%s/api/v1/%s", base, o->path);
	curl = curl_easy_init();
	if (!curl) {
		fprintf(stderr, "kidou: cannot start libcurl\n");
		return 1;
	}
	headers = curl_slist_append(headers, "Accept: application/json");
	if (token) {
		if (asprintf(&auth, "Authorization: Bearer %s", token) < 0) {
			auth = NULL;
			goto out;
		}
		headers = curl_slist_append(headers, auth);
	}
	if (body) {
		headers = curl_slist_append(headers, "Content-Type: application/json");
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "kidou/" KIDOU_VERSION);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CLIENT_CONNECT_TIMEOUT_SEC);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, CLIENT_TIMEOUT_SEC);
	curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CLIENT_BODY_MAX);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(curl);
	if (rc == CURLE_FILESIZE_EXCEEDED || b.too_big) {
		fprintf(stderr, "kidou: the API at %s answered more than %u MiB; refused\n", base,
			CLIENT_BODY_MAX >> 20);
		goto out;
	}
	if (rc == CURLE_COULDNT_CONNECT) {
		fprintf(stderr, "kidou: cannot reach the API at %s: %s (is kidou running, and is "
			"[http] listen or [api] listen set?)\n", base, curl_easy_strerror(rc));
		goto out;
	}
	if (rc != CURLE_OK) {
		fprintf(stderr, "kidou: cannot reach the API at %s: %s\n", base,
			errbuf[0] ? errbuf : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		report_http_error(o, base, status, &b, token != NULL);
		goto out;
	}
	ret = print_answer(o, base, &b);
out:
	if (auth)
		explicit_bzero(auth, strlen(auth));
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	free(b.buf);
	return ret;
}

int client_main(int argc, char **argv)
{
	struct client_opts o = { 0 };
	char base[CLIENT_URL_MAX + 1] = CLIENT_DEFAULT_API, err[512];
	char *token = NULL, *body = NULL;
	size_t n;
	int r = parse_opts(argc, argv, &o);

	if (r != 0)
		return r > 0 ? 0 : 2;
	if (o.api) {
		if (strncmp(o.api, "http://", 7) != 0 && strncmp(o.api, "https://", 8) != 0) {
			fprintf(stderr, "kidou %s: --api: a URL starting http:// or https:// "
				"(e.g. http://127.0.0.1:8080)\n", o.name);
			return 2;
		}
		if (strlen(o.api) > CLIENT_URL_MAX) {
			fprintf(stderr, "kidou %s: --api: URL too long\n", o.name);
			return 2;
		}
		strcpy(base, o.api);
	}
	if (o.token_file && read_token(o.token_file, &token, err, sizeof(err)) < 0) {
		fprintf(stderr, "kidou: %s\n", err);
		return 1;
	}
	if (o.config && from_config(&o, base, sizeof(base), &token, err, sizeof(err)) < 0) {
		fprintf(stderr, "kidou: %s\n", err);
		free(token);
		return 1;
	}
	/* A write needs the token: say so rather than send it to be refused. */
	if (o.next_boot && !token) {
		fprintf(stderr, "kidou: next-boot needs the API token: give --token-file FILE, "
			"or --config with [api] token-file\n");
		return 1;
	}
	if (o.next_boot) {
		json_t *doc = client_next_boot_body(o.profile, o.once, o.local, o.dflt);

		body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
		json_decref(doc);
		if (!body) {
			fprintf(stderr, "kidou: out of memory\n");
			r = 1;
			goto out;
		}
	}
	/* "http://host:port/" and "http://host:port" name the same API. */
	n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		base[--n] = '\0';
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "kidou: cannot start libcurl\n");
		r = 1;
	} else {
		r = fetch(&o, base, token, body);
		curl_global_cleanup();
	}
out:
	free(body);
	if (token)
		explicit_bzero(token, strlen(token));
	free(token);
	return r;
}
