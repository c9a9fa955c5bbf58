# Shared build helpers: warnings and sanitizers for project targets.

# The workplace's shared data (models, fixtures): beside the checkout, else /work/shared.
if(NOT FH_SHARED_DIR)
  if(EXISTS ${PROJECT_SOURCE_DIR}/../shared/fixtures)
    get_filename_component(FH_SHARED_DIR ${PROJECT_SOURCE_DIR}/../shared ABSOLUTE)
  else()
    set(FH_SHARED_DIR /work/shared)
  endif()
endif()

function(fh_target_defaults target)
  # GCC 12 false positives: -Wmismatched-new-delete on Asio coroutine frames at -O2, and
  # -Wrestrict on `"literal" + std::string&&` at -O3 (GCC bug 105329).
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-mismatched-new-delete -Wno-restrict)
  # A unity build puts an anonymous-namespace lambda type inside a coroutine frame that GCC then
  # reports as "has no linkage" (-Wsubobject-linkage); the frame never leaves the TU.
  if(CMAKE_UNITY_BUILD)
    target_compile_options(${target} PRIVATE -Wno-subobject-linkage)
  endif()
  if(FH_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
endfunction()

function(fh_add_subdirectory_if_exists dir)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/CMakeLists.txt)
    add_subdirectory(${dir})
  endif()
endfunction()

# A doctest executable; every TEST_CASE becomes one ctest test with the given labels.
function(fh_add_test name)
  cmake_parse_arguments(T "" "LABELS" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  # The doctest main (DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN) must see doctest.h first: never unity-merged.
  foreach(src ${T_SOURCES})
    get_filename_component(path ${src} ABSOLUTE)
    file(STRINGS ${path} implements REGEX "^#define DOCTEST_CONFIG_IMPLEMENT")
    if(implements)
      set_source_files_properties(${src} PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
    endif()
  endforeach()
  fh_target_defaults(${name})
  target_link_libraries(${name} PRIVATE ${T_LIBS} doctest::doctest)
  target_compile_definitions(${name} PRIVATE
    FH_SOURCE_DIR="${PROJECT_SOURCE_DIR}" FH_SHARED_DIR="${FH_SHARED_DIR}"
    FH_BINARY_DIR="${PROJECT_BINARY_DIR}")
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  doctest_discover_tests(${name} PROPERTIES LABELS "${T_LABELS}"
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
endfunction()

if(FH_SANITIZE)
  # UBSan's null and alignment checks (one "type mismatch" check on every pointer use) cost a third
  # of the compile time of an Asio/Beast translation unit at -O0 (fh::http's: 64 s with them, 41 s
  # without). Where that code is concerned ASan still reports a null dereference (as SEGV) and x86
  # loads tolerate misalignment, so the suite builds without them by default; the libraries that
  # parse untrusted bytes without Boost (GGUF, kernel, tokenizer, grammar, templates, sandbox) turn
  # them back on with fh_full_ubsan().
  add_compile_options(-fsanitize=address,undefined -fno-sanitize=null,alignment -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

function(fh_full_ubsan target)
  if(FH_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=null,alignment)
  endif()
endfunction()

# Benchmarks measure release code: under the sanitizers they are not built by default (CI time).
function(fh_bench target)
  if(FH_SANITIZE)
    set_target_properties(${target} PROPERTIES EXCLUDE_FROM_ALL ON)
  endif()
endfunction()
