// libcurl, opened on first use (dlopen) instead of linked into the binary. Its dependency tree
// (TLS, Kerberos, LDAP, SSH, HTTP/2, IDN: about 30 libraries) was 5.6 MB of an idle
// `freehold run`'s 13.2 MB resident and most of the dynamic loader's start-up work, paid by
// every plan that never makes a request (local models, mock models, tools). Only http.cpp
// includes this; the functions are curl's own, called through the table.
#pragma once

#include <curl/curl.h>

#include <string>

namespace fh::http {

struct CurlLib {
  decltype(&::curl_global_init) global_init;
  decltype(&::curl_easy_init) easy_init;
  decltype(&::curl_easy_cleanup) easy_cleanup;
  decltype(&::curl_easy_reset) easy_reset;
  decltype(&::curl_easy_setopt) easy_setopt;
  decltype(&::curl_easy_getinfo) easy_getinfo;
  decltype(&::curl_easy_strerror) easy_strerror;
  decltype(&::curl_multi_init) multi_init;
  decltype(&::curl_multi_cleanup) multi_cleanup;
  decltype(&::curl_multi_setopt) multi_setopt;
  decltype(&::curl_multi_add_handle) multi_add_handle;
  decltype(&::curl_multi_remove_handle) multi_remove_handle;
  decltype(&::curl_multi_socket_action) multi_socket_action;
  decltype(&::curl_multi_info_read) multi_info_read;
  decltype(&::curl_multi_strerror) multi_strerror;
  decltype(&::curl_slist_append) slist_append;
  decltype(&::curl_slist_free_all) slist_free_all;
  decltype(&::curl_url) url;
  decltype(&::curl_url_cleanup) url_cleanup;
  decltype(&::curl_url_set) url_set;
  decltype(&::curl_url_get) url_get;
  decltype(&::curl_free) free;
};

// The library, loaded and globally initialised once (thread-safe); nullptr when it cannot be
// opened or lacks a function, with the reason in *why.
const CurlLib* curl_lib(std::string* why = nullptr);

}  // namespace fh::http
