#ifndef ENCOURS_CCURL_SHIM_H
#define ENCOURS_CCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: these typed
   wrappers fix the type of the third argument, one function per kind of option. */

/** Initialises libcurl's global state (TLS library included); call once per process. */
static inline CURLcode encours_curl_global_init(void) {
    return curl_global_init(CURL_GLOBAL_DEFAULT);
}

/** Sets an option that takes a long (numbers, flags, enumerations). */
static inline CURLcode encours_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

/** Sets an option that takes a curl_off_t (sizes). */
static inline CURLcode encours_curl_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

/** Sets an option that takes a NUL-terminated string; libcurl copies it (except POSTFIELDS). */
static inline CURLcode encours_curl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

/** Sets an option that takes an untyped pointer (callback data, error buffer). */
static inline CURLcode encours_curl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

/** Sets an option that takes a string list (recipients, HTTP headers); the list must outlive its use. */
static inline CURLcode encours_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

/** Sets CURLOPT_READFUNCTION, the callback that supplies the bytes to upload. */
static inline CURLcode encours_curl_setopt_read_callback(CURL *handle, curl_read_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_READFUNCTION, callback);
}

/** Sets CURLOPT_WRITEFUNCTION, the callback that receives the response body. */
static inline CURLcode encours_curl_setopt_write_callback(CURL *handle, curl_write_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, callback);
}

/** Sets CURLOPT_XFERINFOFUNCTION, the progress callback (used to cancel a transfer). */
static inline CURLcode encours_curl_setopt_progress_callback(CURL *handle, curl_xferinfo_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, callback);
}

/** Sets CURLOPT_DEBUGFUNCTION, the callback that sees the protocol lines (server replies). */
static inline CURLcode encours_curl_setopt_debug_callback(CURL *handle, curl_debug_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_DEBUGFUNCTION, callback);
}

/** Reads a piece of information of type long (response code, connection count). */
static inline CURLcode encours_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

#endif
