# SPDX-License-Identifier: MIT
# node-gyp build of the N-API addon lp_optim: one static library per ISA (with that ISA's flags only) linked into the addon.
{
  'variables': {
    'lp_optim_version': '<!(node -p "require(\'./package.json\').version")',
  },
  'target_defaults': {
    'include_dirs': ['native/kernels'],
    # Same arithmetic on every target: no errno from sqrt, and never an FMA
    # contraction (results must be bit-identical on every ISA).
    'cflags': ['-O3', '-fno-math-errno', '-ffp-contract=off', '-Wall', '-Wextra'],
    'xcode_settings': {
      'GCC_OPTIMIZATION_LEVEL': '3',
      'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
      'OTHER_CFLAGS': ['-fno-math-errno', '-ffp-contract=off', '-Wall', '-Wextra'],
    },
    'msvs_settings': {
      'VCCLCompilerTool': {
        'Optimization': 2,
        'AdditionalOptions': ['/fp:precise', '/std:c++17'],
      },
    },
    'conditions': [
      # x87 arithmetic would round float and double differently from every
      # other target; Node on ia32 already requires SSE2.
      ['target_arch=="ia32" and OS!="win"', {
        'cflags': ['-msse2', '-mfpmath=sse'],
      }],
    ],
  },
  'targets': [
    {
      'target_name': 'lp_optim',
      'sources': [
        'native/binding.cc',
        'native/group_step.cc',
        'native/thread_pool.cc',
        '<!@(node -p "require(\'./native/sources.json\').common.join(\' \')")',
      ],
      'include_dirs': [
        '<!(node -p "require(\'node-addon-api\').include_dir")',
      ],
      'defines': [
        'NAPI_VERSION=8',
        'NAPI_DISABLE_CPP_EXCEPTIONS',
        'LP_OPTIM_VERSION="<(lp_optim_version)"',
      ],
      'dependencies': ['lp_kernels_scalar'],
      'conditions': [
        ['target_arch=="x64"', {
          'dependencies': ['lp_kernels_avx2', 'lp_kernels_avx512'],
        }],
        ['target_arch=="arm64"', {
          'dependencies': ['lp_kernels_neon'],
        }],
      ],
    },
    {
      'target_name': 'lp_kernels_scalar',
      'type': 'static_library',
      'sources': ['<!@(node -p "require(\'./native/sources.json\').isa.scalar.join(\' \')")'],
    },
  ],
  'conditions': [
    ['target_arch=="x64"', {
      # -falign-loops=32: the kernels' hot loops are a few instructions long, and
      # one that happened to straddle a 64-byte line (placed there by an unrelated
      # change) made the CIFAR batch's projection pass 1.8x slower on Zen 4.
      'targets': [
        {
          'target_name': 'lp_kernels_avx2',
          'type': 'static_library',
          'sources': ['<!@(node -p "require(\'./native/sources.json\').isa.avx2.join(\' \')")'],
          'cflags': ['-mavx2', '-mfma', '-falign-loops=32'],
          'xcode_settings': {'OTHER_CFLAGS': ['-mavx2', '-mfma']},
          'msvs_settings': {'VCCLCompilerTool': {'AdditionalOptions': ['/arch:AVX2']}},
        },
        {
          'target_name': 'lp_kernels_avx512',
          'type': 'static_library',
          'sources': ['<!@(node -p "require(\'./native/sources.json\').isa.avx512.join(\' \')")'],
          'cflags': ['-mavx512f', '-mavx512dq', '-mavx2', '-mfma', '-falign-loops=32'],
          'xcode_settings': {'OTHER_CFLAGS': ['-mavx512f', '-mavx512dq', '-mavx2', '-mfma']},
          'msvs_settings': {'VCCLCompilerTool': {'AdditionalOptions': ['/arch:AVX512']}},
        },
      ],
    }],
    ['target_arch=="arm64"', {
      'targets': [
        {
          # NEON is part of the arm64 baseline: no extra flags.
          'target_name': 'lp_kernels_neon',
          'type': 'static_library',
          'sources': ['<!@(node -p "require(\'./native/sources.json\').isa.neon.join(\' \')")'],
        },
      ],
    }],
  ],
}
