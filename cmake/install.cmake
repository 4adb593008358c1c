# `cmake --install`: bin/iolab, etc/iolab/ (config and experiments), share/iolab/ (experiments,
# dashboards, systemd units with this prefix's paths), the libraries, their headers and
# iolabConfig.cmake for find_package(iolab).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS iolab RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(lib core variants loadgen workers store lab daemon)
  # Exported as iolab::core ..., the names the build's aliases use.
  set_target_properties(iolab_${lib} PROPERTIES EXPORT_NAME ${lib})
endforeach()
install(TARGETS iolab_core iolab_variants iolab_loadgen iolab_workers iolab_store iolab_lab
                iolab_daemon
        EXPORT iolabTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/iolab)
foreach(folder core variants loadgen workers store lab daemon)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${folder} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/iolab
          FILES_MATCHING PATTERN "*.h")
endforeach()
install(EXPORT iolabTargets NAMESPACE iolab:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/iolab)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/iolabConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/iolabConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/iolab)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/iolabConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/iolabConfig.cmake ${PROJECT_BINARY_DIR}/iolabConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/iolab)

# The config: the packaged service keeps its state in /var/lib/iolab (StateDirectory=).
install(FILES ${PROJECT_SOURCE_DIR}/config/iolab.yaml
        DESTINATION ${CMAKE_INSTALL_SYSCONFDIR}/iolab)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/config/experiments
        DESTINATION ${CMAKE_INSTALL_SYSCONFDIR}/iolab)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/config/experiments DESTINATION ${CMAKE_INSTALL_DATADIR}/iolab)
# The manual page iolab(1), named by the units' Documentation=.
install(FILES ${PROJECT_SOURCE_DIR}/docs/iolab.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
if(EXISTS ${PROJECT_SOURCE_DIR}/dashboards)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/dashboards DESTINATION ${CMAKE_INSTALL_DATADIR}/iolab)
endif()
# The units name /usr/local/bin/iolab and /etc/iolab: rewritten for the prefix installed to.
install(CODE "
  set(IOLAB_UNIT_SOURCE_DIR \"${PROJECT_SOURCE_DIR}/systemd\")
  set(IOLAB_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(IOLAB_SYSCONFDIR \"${CMAKE_INSTALL_SYSCONFDIR}\")
  set(IOLAB_DATADIR \"${CMAKE_INSTALL_DATADIR}\")
  include(\"${PROJECT_SOURCE_DIR}/cmake/install_units.cmake\")")
