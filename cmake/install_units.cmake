# Run by `cmake --install`: writes the systemd units to share/iolab/systemd/ with the paths of
# the prefix installed to (the units in systemd/ name /usr/local/bin/iolab and /etc/iolab).
# In: IOLAB_UNIT_SOURCE_DIR, IOLAB_BINDIR, IOLAB_SYSCONFDIR, IOLAB_DATADIR (relative).
set(prefix "${CMAKE_INSTALL_PREFIX}")
set(sysconf "${prefix}/${IOLAB_SYSCONFDIR}")
if(prefix STREQUAL "/usr")
  set(sysconf "/etc")
endif()
foreach(unit iolab.service iolab-nightly.service iolab-nightly.timer)
  file(READ "${IOLAB_UNIT_SOURCE_DIR}/${unit}" text)
  string(REPLACE "/usr/local/bin/iolab" "${prefix}/${IOLAB_BINDIR}/iolab" text "${text}")
  string(REPLACE "/etc/iolab" "${sysconf}/iolab" text "${text}")
  set(target "$ENV{DESTDIR}${prefix}/${IOLAB_DATADIR}/iolab/systemd/${unit}")
  message(STATUS "Installing: ${target}")
  file(WRITE "${target}" "${text}")
endforeach()
