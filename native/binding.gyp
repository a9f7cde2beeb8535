{
  "targets": [
    {
      "target_name": "effnet_torch",
      "sources": [
        "src/addon.cc",
        "src/tensor_handle.cc",
        "src/operator_call.cc",
        "src/autograd.cc",
        "src/errors.cc",
        "src/distributed.cc",
        "src/device.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node libtorch-config.cjs --include)"
      ],
      "libraries": ["<!@(node libtorch-config.cjs --libs)"],
      "defines": ["NAPI_VERSION=8", "USE_C10D_GLOO", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL", "<!@(node libtorch-config.cjs --defines)"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-frtti", "-Wno-unused-parameter", "-Wno-deprecated-declarations"]
    },
    {
      "target_name": "effnet_image",
      "sources": ["src/jpeg_decode.cc"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc!": ["-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wno-unused-parameter", "-Wno-clobbered"],
      "conditions": [
        ["<!(node -p \"require('fs').existsSync('/usr/include/jpeglib.h') ? 1 : 0\")==1", {
          "defines": ["EFFNET_HAVE_LIBJPEG"],
          "libraries": ["-ljpeg"]
        }]
      ]
    }
  ]
}
