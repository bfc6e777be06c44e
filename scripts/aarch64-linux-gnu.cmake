# SPDX-License-Identifier: MIT
# CMake toolchain for the AArch64 kernel tests (scripts/ctest-neon.sh): Debian's
# cross compiler, and ctest runs the test binary under qemu's user-mode
# emulator with the cross libraries as its root.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;/usr/aarch64-linux-gnu)
