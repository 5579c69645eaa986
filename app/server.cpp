#include "app/server.h"

#include "actors/runtime.h"
#ifdef TANDEM_LOCAL_API
#include "app/api/api.h"
#include "app/routing_config.h"
#endif
#if defined(TANDEM_LOCAL_API) && defined(TANDEM_CLOUD)
#include "cloud/provider_actor.h"
#endif
#include "actors/actor_metrics.h"
#include "http/logging.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <thread>

namespace tandem::app {

http::ServerOptions server_options(const AppConfig& config) {
  http::ServerOptions options;
  options.host = config.host;
  options.port = static_cast<std::uint16_t>(config.port);
  options.io_threads = config.io_threads;
  options.max_connections = static_cast<std::size_t>(config.max_connections);
  options.body_limit = config.body_limit;
  auto to_ms = [](double seconds) {
    return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
  };
  options.read_timeout = to_ms(config.read_timeout);
  options.drain_timeout = to_ms(config.drain_timeout);
  options.api_keys = config.api_keys;
  options.cors = http::CorsPolicy(config.cors_origins);
  return options;
}

void configure_logging(const std::string& level, const std::string& format) {
  auto logger = spdlog::stdout_color_mt("tandem");
  spdlog::set_default_logger(logger);
  http::set_log_format(http::parse_log_format(format).value_or(http::LogFormat::text));
  spdlog::set_level(spdlog::level::from_str(level));
  // One line per request is cheap to flush, and logs must be readable as they happen.
  spdlog::flush_on(spdlog::level::trace);
}

#ifdef TANDEM_LOCAL_API
static api::ApiOptions api_options(const AppConfig& config) {
  api::ApiOptions options;
  options.models = config.models;
  options.aliases = config.aliases;
  options.ctx_size = config.ctx_size;
  options.parallel = config.parallel;
  options.threads = config.threads;
  options.max_queue = config.max_queue;
  options.batch_tokens = config.batch_tokens;
  options.prefill_shortest_first = config.prefill_order == "shortest";
  options.max_prefill_tokens = config.max_prefill_tokens;
  options.max_prefill_seqs = config.max_prefill_seqs;
  options.prefill_first = config.prefill_first != 0;
  options.stored_responses = static_cast<size_t>(config.responses_store);
  options.max_schema_bytes = static_cast<size_t>(config.max_schema_bytes);
  options.stored_response_ttl = config.responses_ttl;
  options.waiting_heartbeat =
      std::chrono::milliseconds(static_cast<long long>(config.queue_heartbeat * 1000));
  options.step_delay = std::chrono::milliseconds(config.debug_step_delay_ms);
  options.backend_timeout = std::chrono::milliseconds(static_cast<long long>(config.backend_timeout * 1000));
  return options;
}
#endif

int run_server(const AppConfig& config) {
  spdlog::info("tandem starting: io-threads {}, actor-threads {}, engine threads {}, "
               "max-connections {}, body-limit {} bytes, {} API key(s)",
               config.io_threads, config.actor_threads, config.threads, config.max_connections,
               config.body_limit, config.api_keys.size());
#ifndef TANDEM_LOCAL_API
  for (const auto& model : config.models) {
    spdlog::warn("model {} accepted but not served: this build has no local inference", model);
  }
#endif

  actors::RuntimeOptions actor_options;
  actor_options.worker_threads = static_cast<std::size_t>(config.actor_threads);
  // --actor-threads 0: the HTTP I/O threads run the actors and libcurl too, each one a shard
  // (a session, the actors it asks and its upstream transfer stay on one thread).
  actor_options.share_io_thread = config.actor_threads == 0;
  actor_options.io_threads = static_cast<std::size_t>(std::max(1, config.io_threads));
  actors::ActorRuntime actors(actor_options);

  AppServices services;
  services.metrics = std::make_shared<prometheus::Registry>();
  // Every metered actor (router, local backends, providers) reports tandem_actor_* here.
  actors::attach_actor_metrics(actors.system(), services.metrics);
  // The conventional start-time gauge: a restart shows as a change (monitoring/ alerts on it).
  prometheus::BuildGauge()
      .Name("process_start_time_seconds")
      .Help("Start time of the process since the Unix epoch, in seconds")
      .Register(*services.metrics)
      .Add({})
      .Set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  services.readiness = no_backend_yet;

#ifdef TANDEM_LOCAL_API
  // Models load before the server listens, so /ready answers 200 as soon as it is reachable.
  std::unique_ptr<api::ApiService> api_service;
  try {
    api_service = std::make_unique<api::ApiService>(api_options(config), actors, services.metrics);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    actors.shutdown();
    return 1;
  }
  services.readiness = [service = api_service.get()] { return service->readiness(); };
#endif
#ifdef TANDEM_LOCAL_API
  // The backends a routing rule may name: "local" and every configured provider.
  std::vector<std::string> backend_names = {"local"};
#endif
#if defined(TANDEM_LOCAL_API) && defined(TANDEM_CLOUD)
  std::shared_ptr<cloud::UpstreamClient> upstream;
#endif
  // The upstream client's thread stops before the actor system: a callback running there may hold
  // a provider actor's last reference, and an actor released while its system is torn down crashes.
  auto stop_actors = [&] {
#ifdef TANDEM_LOCAL_API
    api_service->release_actors();
#endif
#if defined(TANDEM_LOCAL_API) && defined(TANDEM_CLOUD)
    if (upstream) upstream->shutdown();
#endif
    actors.shutdown();
  };
#if defined(TANDEM_LOCAL_API) && defined(TANDEM_CLOUD)
  // Cloud providers join the router after the local models; one upstream client serves them all
  // (on the shards with --actor-threads 0, else on a thread of its own). The config was checked
  // when it was parsed.
  try {
    auto cloud_config = cloud::load_cloud_config(config.providers.is_null() ? nullptr : &config.providers,
                                                 config.model_aliases.is_null() ? nullptr : &config.model_aliases,
                                                 process_env);
    if (!cloud_config.providers.empty()) {
      cloud::UpstreamClientOptions upstream_options;
      upstream_options.io_contexts = actors.io_contexts();  // none: a thread of its own
      upstream = std::make_shared<cloud::UpstreamClient>(upstream_options);
      for (const auto& provider : cloud_config.providers) {
        spdlog::info("cloud provider {}: {} protocol at {}", provider.name, schemas::protocol_name(provider.protocol),
                     provider.base_url);
        backend_names.push_back(provider.name);
      }
      api_service->add_backends(cloud::spawn_cloud_backends(actors.system(), cloud_config, upstream, services.metrics));
    }
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    stop_actors();
    return 2;
  }
#endif

#ifdef TANDEM_LOCAL_API
  // Routing rules: checked now (a bad rule stops startup, exit 2), re-read on SIGHUP (a bad file
  // is logged and the rules in force stay).
  auto is_known_backend = [backend_names](std::string_view name) {
    return std::find(backend_names.begin(), backend_names.end(), name) != backend_names.end();
  };
  try {
    auto rules = load_routing_rules(config.config_file, is_known_backend);
    if (rules) {
      spdlog::info("routing: {} rule(s){} from {}", rules->rules().size(), rules->default_rule() ? " and a default" : "",
                   config.config_file);
      api_service->set_routing(std::move(rules));
    }
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    stop_actors();
    return 2;
  }
  boost::asio::io_context reload_io;
  boost::asio::signal_set hangup(reload_io, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_hangup;
  on_hangup = [&](const boost::system::error_code& ec, int) {
    if (ec) return;
    try {
      auto rules = load_routing_rules(config.config_file, is_known_backend);
      size_t count = rules ? rules->rules().size() : 0;
      api_service->set_routing(std::move(rules));
      spdlog::info("routing: reloaded {} rule(s) from {} on SIGHUP", count, config.config_file);
    } catch (const std::exception& e) {
      spdlog::error("routing: reload on SIGHUP rejected, the rules in force stay: {}", e.what());
    }
    // Providers are spawned once (their actors own breakers and in-flight calls): a reload never
    // replaces them, and says so.
    try {
      auto changed = startup_only_changes(config.config_file, config.providers, config.model_aliases);
      std::string names;
      for (const auto& name : backend_names) {
        if (name != "local") names += (names.empty() ? "" : ", ") + name;
      }
      if (names.empty()) names = "none";
      if (changed.empty()) {
        spdlog::info("providers: unchanged on SIGHUP (in force: {})", names);
      } else {
        std::string sections;
        for (const auto& section : changed) sections += (sections.empty() ? "" : " and ") + section;
        spdlog::warn("providers: {} changed in {} but providers are read at startup only; restart tandem to apply "
                     "it (in force, unchanged: {})",
                     sections, config.config_file, names);
      }
    } catch (const std::exception& e) {
      spdlog::warn("providers: unchanged on SIGHUP ({})", e.what());
    }
    hangup.async_wait(on_hangup);
  };
  hangup.async_wait(on_hangup);
  std::thread reload_thread([&reload_io] { reload_io.run(); });
  struct StopReload {
    boost::asio::io_context& io;
    std::thread& thread;
    ~StopReload() {
      io.stop();
      if (thread.joinable()) thread.join();
    }
  } stop_reload{reload_io, reload_thread};
#endif

  http::Router router;
  add_health_routes(router, services);
#ifdef TANDEM_LOCAL_API
  api_service->add_routes(router);
#endif
  if (config.debug_routes) {
    spdlog::warn("debug routes enabled (/debug/*): for tests only");
    add_debug_routes(router);
  }

  auto options = server_options(config);
  options.metrics = services.metrics;
  options.handle_signals = true;
  // Sessions on the actors' threads: runtime.shutdown() (in stop_actors) stops and destroys those
  // io_contexts, with any handler still queued there, before `server` is destroyed.
  options.io_contexts = actors.io_contexts();
  http::Server server(std::move(options), std::move(router));
  try {
    server.start();
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    stop_actors();
    return 1;
  }
  spdlog::info("listening on http://{}:{}", config.host, server.port());
  server.wait();
  stop_actors();
  spdlog::info("stopped");
  return 0;
}

}  // namespace tandem::app
