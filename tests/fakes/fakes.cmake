# The scripted fake upstream (OpenAI / Anthropic shapes, faults) for cloud tests and benchmarks.
# include() this; the target is defined once.
if(NOT TARGET tandem_test_fakes)
  add_library(tandem_test_fakes STATIC
    ${PROJECT_SOURCE_DIR}/tests/fakes/fake_upstream.cpp
    ${PROJECT_SOURCE_DIR}/tests/fakes/fake_answers.cpp)
  target_include_directories(tandem_test_fakes PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(tandem_test_fakes PUBLIC Boost::headers Boost::json Threads::Threads)
  target_precompile_headers(tandem_test_fakes PRIVATE <boost/asio.hpp> <boost/beast/core.hpp> <boost/beast/http.hpp>)
endif()

if(NOT TARGET tandem-fake-upstream)
  add_executable(tandem-fake-upstream ${PROJECT_SOURCE_DIR}/tests/fakes/fake_upstream_main.cpp)
  target_link_libraries(tandem-fake-upstream PRIVATE tandem_test_fakes)
  set_target_properties(tandem-fake-upstream PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
endif()
