# compsweep_add_library(name DEPS ...): one static library per folder, from every
# *.cc in the folder that is not a *_test.cc, with alias compsweep::<name>.
function(compsweep_add_library name)
  cmake_parse_arguments(ARG "" "" "PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  list(FILTER srcs EXCLUDE REGEX "_test\\.cc$")
  if(NOT srcs)
    add_library(compsweep_${name} INTERFACE)
    target_include_directories(compsweep_${name} INTERFACE ${PROJECT_SOURCE_DIR})
    target_link_libraries(compsweep_${name} INTERFACE ${ARG_PUBLIC_DEPS})
    add_library(compsweep::${name} ALIAS compsweep_${name})
    return()
  endif()
  add_library(compsweep_${name} STATIC ${srcs})
  target_include_directories(compsweep_${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(compsweep_${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS}
                        compsweep_warnings)
  add_library(compsweep::${name} ALIAS compsweep_${name})
endfunction()

# compsweep_add_folder_tests(name DEPS ...): all *_test.cc of the folder in one
# GoogleTest binary <name>_tests, registered with CTest.
function(compsweep_add_folder_tests name)
  if(NOT COMPSWEEP_BUILD_TESTS)
    return()
  endif()
  file(GLOB tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc)
  if(NOT tests)
    return()
  endif()
  add_executable(${name}_tests ${tests})
  target_link_libraries(${name}_tests PRIVATE ${ARGN} GTest::gtest GTest::gtest_main GTest::gmock
                        compsweep_warnings)
  gtest_discover_tests(${name}_tests DISCOVERY_TIMEOUT 60
                       PROPERTIES ENVIRONMENT "COMPSWEEP_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()
