// The router actor maps model names and aliases to served models; the scheduler actor admits
// through the bridge. Driven from coroutines, as HTTP sessions drive them.
#include "actors/bridge.h"
#include "actors/serving/serving_actors.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <chrono>

namespace tandem::actors {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

std::shared_ptr<const ServedModel> served(std::string id, std::vector<std::string> aliases) {
  auto model = std::make_shared<ServedModel>();
  model->id = std::move(id);
  model->aliases = std::move(aliases);
  return model;
}

template <class R, class... Ts>
R ask_now(ActorRuntime& runtime, const caf::actor& target, Ts... message) {
  asio::io_context io;
  auto future = asio::co_spawn(
      io, [&]() -> asio::awaitable<R> { co_return co_await ask<R>(runtime, target, 5s, message...); },
      asio::use_future);
  io.run();
  return future.get();
}

TEST(RouterActor, RoutesByIdAliasAndCaseInsensitiveName) {
  ActorRuntime runtime;
  auto actor = spawn_router_actor(runtime.system(), {served("stories260K", {"tiny", "default"}),
                                                     served("qwen-small", {})});
  runtime.track(actor);  // a server-lifetime actor: shutdown() must tell it to exit
  runtime.track(actor);  // server-lifetime actor: shutdown() ends it
  EXPECT_EQ(ask_now<RouteResult>(runtime, actor, route_atom::value, std::string("stories260K")).model->id,
            "stories260K");
  EXPECT_EQ(ask_now<RouteResult>(runtime, actor, route_atom::value, std::string("tiny")).model->id,
            "stories260K");
  EXPECT_EQ(ask_now<RouteResult>(runtime, actor, route_atom::value, std::string("QWEN-small")).model->id,
            "qwen-small");
  auto missing = ask_now<RouteResult>(runtime, actor, route_atom::value, std::string("gpt-4o"));
  EXPECT_EQ(missing.model, nullptr);
  EXPECT_EQ(missing.available, (std::vector<std::string>{"stories260K", "qwen-small"}));
  auto list = ask_now<ModelList>(runtime, actor, models_atom::value);
  ASSERT_EQ(list.models.size(), 2u);
  EXPECT_EQ(list.models[1]->id, "qwen-small");
  runtime.shutdown();
}

}  // namespace
}  // namespace tandem::actors
