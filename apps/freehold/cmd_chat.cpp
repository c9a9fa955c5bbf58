#include "apps/freehold/cmd_chat.hpp"

#include <csignal>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "providers/router/router.hpp"
#include "runtime/core/json_text.hpp"

namespace asio = boost::asio;

namespace fh::app {

namespace {
json error_line(const api::ProviderError& e) { return {{"type", "error"}, {"error", api::to_json(e)}}; }
}  // namespace

int run_chat(const ChatOptions& o, const api::ProviderRegistry& reg_in, std::ostream& out, std::ostream& err) {
  // --base-url overrides the configured base URL of the (first) listed provider.
  api::ProviderRegistry reg = reg_in;
  if (!o.base_url.empty()) {
    auto slash = o.model.find('/');
    if (slash != std::string::npos) {
      json cfg = reg.config().is_object() ? reg.config() : json::object();
      cfg["providers"][o.model.substr(0, slash)]["base_url"] = o.base_url;
      reg.set_config(std::move(cfg));
    }
  }
  auto chain = provider_router::resolve_chain(reg, o.model);
  if (!chain) {
    if (o.json) out << json_text(json{{"type", "error"}, {"error", chain.error().to_json()}}) << "\n";
    err << "freehold chat: " << chain.error().message << "\n";
    return 2;
  }
  auto provider = provider_router::make_router(std::move(chain.value()));

  api::ChatRequest req;
  req.system = o.system;
  req.messages.push_back(api::Message::user(o.prompt));

  bool last_was_error = false;
  api::StreamSink sink;
  if (o.stream) {
    sink = [&](const api::StreamEvent& ev) {
      last_was_error = ev.type == api::StreamEvent::Type::error;
      if (o.json) {
        out << json_text(api::to_json(ev)) << "\n" << std::flush;
      } else if (ev.type == api::StreamEvent::Type::text) {
        out << ev.text << std::flush;
      }
    };
  }

  // One call on our own loop; a signal cancels it through the coroutine's cancellation slot.
  asio::io_context ctx;
  asio::cancellation_signal cancel;
  asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (!ec) cancel.emit(asio::cancellation_type::terminal);
  });
  std::optional<api::ProviderResult<api::ChatResult>> result;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        result.emplace(co_await provider->chat(req, sink));
        signals.cancel();
      },
      asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
        signals.cancel();
        if (e) std::rethrow_exception(e);
      }));
  ctx.run();

  if (!result || !result->ok()) {
    api::ProviderError e;
    if (result) e = result->error();
    else { e.kind = api::ErrorKind::cancelled; e.message = "cancelled"; }
    if (o.json && !last_was_error) out << json_text(error_line(e)) << "\n";
    if (o.stream && !o.json) out << "\n";
    err << "freehold chat: " << api::error_kind_name(e.kind) << ": " << e.message << "\n";
    return 1;
  }
  const api::ChatResult& r = result->value();
  if (o.json) {
    json j = api::to_json(r);
    if (o.stream) j["type"] = "result";
    out << json_text(j) << "\n";
  } else if (o.stream) {
    out << "\n";
  } else {
    out << r.text << "\n";
  }
  return 0;
}

void add_chat_command(CLI::App& app, api::ProviderRegistry& reg, int& exit_code) {
  auto o = std::make_shared<ChatOptions>();
  CLI::App* cmd = app.add_subcommand("chat", "One model call");
  cmd->add_option("--model", o->model, "provider/model, or a fallback list a/m1,b/m2")->required();
  cmd->add_option("--base-url", o->base_url, "API base URL for the provider");
  cmd->add_option("--system", o->system, "system prompt");
  cmd->add_flag("--stream", o->stream, "stream the reply");
  cmd->add_flag("--json", o->json, "JSON output");
  cmd->add_option("prompt", o->prompt, "the user message")->required();
  cmd->callback([o, &reg, &exit_code] { exit_code = run_chat(*o, reg, std::cout, std::cerr); });
}

}  // namespace fh::app
