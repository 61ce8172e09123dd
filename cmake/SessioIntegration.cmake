# SessioIntegration.cmake — sessio_integration(NAME SOURCES <files>
# DEPS <targets> PKG <prefix> MODULE <pkg-config module or ->) makes one
# server integration the way sessio-mhd is made: libsessio-NAME.so.1 (on
# libsessio) and libsessio-NAME.a (on libsessio's static library), hidden
# visibility so that only the sessio_ API is exported, sessio-NAME.pc (from
# cmake/sessio-NAME.pc.in) and the CMake component NAME (sessio::NAME,
# sessio::NAME_static). PKG and MODULE tell sessioConfig.cmake how to find
# the server library again ("-": none needed, the targets carry its path).
# A macro called from a subdirectory: the lists the install section reads
# are handed up to the top-level scope.
macro(sessio_integration name)
  cmake_parse_arguments(_si "" "PKG;MODULE" "SOURCES;DEPS" ${ARGN})
  add_library(sessio_${name}_obj OBJECT ${_si_SOURCES})
  set_target_properties(sessio_${name}_obj PROPERTIES
    POSITION_INDEPENDENT_CODE ON C_VISIBILITY_PRESET hidden)
  target_include_directories(sessio_${name}_obj PRIVATE
    ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(sessio_${name}_obj PRIVATE ${_si_DEPS})
  add_library(sessio_${name} SHARED $<TARGET_OBJECTS:sessio_${name}_obj>)
  add_library(sessio_${name}_static STATIC $<TARGET_OBJECTS:sessio_${name}_obj>)
  set_target_properties(sessio_${name} PROPERTIES OUTPUT_NAME sessio-${name}
    EXPORT_NAME ${name} VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR})
  set_target_properties(sessio_${name}_static PROPERTIES
    OUTPUT_NAME sessio-${name} EXPORT_NAME ${name}_static)
  target_link_libraries(sessio_${name} PUBLIC sessio ${_si_DEPS})
  target_link_libraries(sessio_${name}_static PUBLIC sessio_static ${_si_DEPS})
  foreach(_si_t sessio_${name} sessio_${name}_static)
    target_include_directories(${_si_t} PUBLIC
      $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  endforeach()
  add_library(sessio::${name} ALIAS sessio_${name})
  add_library(sessio::${name}_static ALIAS sessio_${name}_static)
  list(APPEND SESSIO_COMPONENTS ${name})
  list(APPEND SESSIO_PC_FILES sessio-${name})
  set(SESSIO_COMPONENT_TARGETS_${name} sessio_${name} sessio_${name}_static)
  set(SESSIO_COMPONENT_MODULE_${name} ${_si_MODULE})
  set(SESSIO_COMPONENT_PKG_${name} ${_si_PKG})
  if(NOT CMAKE_CURRENT_SOURCE_DIR STREQUAL PROJECT_SOURCE_DIR)
    foreach(_si_v SESSIO_COMPONENTS SESSIO_PC_FILES
            SESSIO_COMPONENT_TARGETS_${name} SESSIO_COMPONENT_MODULE_${name}
            SESSIO_COMPONENT_PKG_${name})
      set(${_si_v} "${${_si_v}}" PARENT_SCOPE)
    endforeach()
  endif()
endmacro()
