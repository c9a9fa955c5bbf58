#include "providers/http/curl_lib.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <string>
#include <type_traits>

namespace fh::http {
namespace {

struct Loaded {
  CurlLib lib{};
  bool ok = false;
  std::string why;

  Loaded() {
    // The soname of libcurl 7.x and 8.x, or FH_LIBCURL (another build, say Debian's
    // libcurl-gnutls.so.4). RTLD_LOCAL keeps its symbols out of the global scope.
    const char* env = std::getenv("FH_LIBCURL");
    const std::string name = env && *env ? env : "libcurl.so.4";
    void* h = ::dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = ::dlerror();
      why = "cannot load libcurl (" + name + "), needed for HTTP providers and tools: " + (e ? e : "unknown error");
      return;
    }
    bool all = true;
    auto sym = [&](auto& fn, const char* sym_name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(h, sym_name));
      if (!fn && all) all = false, why = name + " has no " + sym_name + " (libcurl 7.80 or newer is needed)";
    };
    sym(lib.global_init, "curl_global_init");
    sym(lib.easy_init, "curl_easy_init");
    sym(lib.easy_cleanup, "curl_easy_cleanup");
    sym(lib.easy_reset, "curl_easy_reset");
    sym(lib.easy_setopt, "curl_easy_setopt");
    sym(lib.easy_getinfo, "curl_easy_getinfo");
    sym(lib.easy_strerror, "curl_easy_strerror");
    sym(lib.multi_init, "curl_multi_init");
    sym(lib.multi_cleanup, "curl_multi_cleanup");
    sym(lib.multi_setopt, "curl_multi_setopt");
    sym(lib.multi_add_handle, "curl_multi_add_handle");
    sym(lib.multi_remove_handle, "curl_multi_remove_handle");
    sym(lib.multi_socket_action, "curl_multi_socket_action");
    sym(lib.multi_info_read, "curl_multi_info_read");
    sym(lib.multi_strerror, "curl_multi_strerror");
    sym(lib.slist_append, "curl_slist_append");
    sym(lib.slist_free_all, "curl_slist_free_all");
    sym(lib.url, "curl_url");
    sym(lib.url_cleanup, "curl_url_cleanup");
    sym(lib.url_set, "curl_url_set");
    sym(lib.url_get, "curl_url_get");
    sym(lib.free, "curl_free");
    if (!all) return;  // the handle stays open: nothing else would use it, and closing is not worth a path
    if (CURLcode rc = lib.global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK) {
      why = "curl_global_init failed (code " + std::to_string(static_cast<int>(rc)) + ")";
      return;
    }
    ok = true;
  }
};

}  // namespace

const CurlLib* curl_lib(std::string* why) {
  static const Loaded loaded;  // C++ guarantees one thread-safe initialisation
  if (!loaded.ok && why) *why = loaded.why;
  return loaded.ok ? &loaded.lib : nullptr;
}

}  // namespace fh::http
