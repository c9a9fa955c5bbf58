#include "providers/http/sse.hpp"

#include <cstring>

namespace fh::http {

void SseDecoder::feed(std::string_view bytes, const Callback& on_event) {
  size_t i = 0;
  if (skip_lf_ && !bytes.empty()) {
    // The previous chunk ended with '\r'; a '\n' here completes that "\r\n".
    if (bytes[0] == '\n') i = 1;
    skip_lf_ = false;
  }
  while (i < bytes.size()) {
    // Find the next line end without touching bytes one call at a time.
    const char* start = bytes.data() + i;
    size_t rest = bytes.size() - i;
    const char* nl = static_cast<const char*>(std::memchr(start, '\n', rest));
    size_t scan = nl ? static_cast<size_t>(nl - start) : rest;
    const char* cr = static_cast<const char*>(std::memchr(start, '\r', scan));
    const char* end = cr ? cr : nl;
    if (!end) {
      line_.append(start, rest);  // no line end yet: keep the partial line
      return;
    }
    size_t len = static_cast<size_t>(end - start);
    if (line_.empty()) {
      process_line(std::string_view(start, len), on_event);
    } else {
      line_.append(start, len);
      std::string line = std::move(line_);
      line_.clear();
      process_line(line, on_event);
    }
    i += len + 1;
    if (*end == '\r') {
      if (i < bytes.size()) {
        if (bytes[i] == '\n') ++i;
      } else {
        skip_lf_ = true;  // "\r" | "\n" split across chunks
      }
    }
  }
}

void SseDecoder::finish(const Callback& on_event) {
  if (!line_.empty()) {
    std::string line = std::move(line_);
    line_.clear();
    process_line(line, on_event);
  }
  dispatch(on_event);
  skip_lf_ = false;
}

void SseDecoder::process_line(std::string_view line, const Callback& on_event) {
  if (!started_) {
    started_ = true;
    if (line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);  // a leading UTF-8 BOM
  }
  if (line.empty()) {
    dispatch(on_event);
    return;
  }
  if (line[0] == ':') {
    ++comments_;
    return;
  }
  std::string_view field = line, value;
  if (auto colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_.push_back('\n');
    data_.append(value);
    has_data_ = true;
  } else if (field == "event") {
    event_.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) last_id_.assign(value);
  } else if (field == "retry") {
    if (!value.empty() && value.size() < 18 &&
        value.find_first_not_of("0123456789") == std::string_view::npos)
      retry_ = std::stoll(std::string(value));
  }
  // Any other field is ignored, as the standard says.
}

void SseDecoder::dispatch(const Callback& on_event) {
  if (!has_data_) {
    // No data: the event is dropped; only its type (and retry) are reset.
    event_.clear();
    retry_.reset();
    return;
  }
  SseEvent ev{std::move(event_), std::move(data_), last_id_, retry_};
  event_.clear();
  data_.clear();
  has_data_ = false;
  retry_.reset();
  on_event(std::move(ev));
}

}  // namespace fh::http
