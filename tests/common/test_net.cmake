# Shared by integration tests: the HTTP client and the helper that runs the real tandem binary.
# include() this from a tests/<component>/CMakeLists.txt; the target is defined once.
if(NOT TARGET tandem_test_net)
  add_library(tandem_test_net STATIC
    ${PROJECT_SOURCE_DIR}/tests/common/http_client.cpp
    ${PROJECT_SOURCE_DIR}/tests/common/tandem_process.cpp)
  target_link_libraries(tandem_test_net PUBLIC tandem_test_support Boost::headers Threads::Threads)
  if(TARGET tandem)
    target_compile_definitions(tandem_test_net PRIVATE TANDEM_EXECUTABLE="$<TARGET_FILE:tandem>")
  endif()
  target_precompile_headers(tandem_test_net PRIVATE <boost/beast/core.hpp> <boost/beast/http.hpp>)
endif()
