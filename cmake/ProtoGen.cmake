# luna_proto_library(<target> <root> <proto>...) generates C++ message and gRPC code for .proto files
# given relative to <root> and wraps it in a static library whose headers are SYSTEM includes, so our
# -Werror flags never trip on generated code.
function(luna_proto_library target root)
  set(srcs)
  set(out_dir ${CMAKE_BINARY_DIR}/gen)
  file(MAKE_DIRECTORY ${out_dir})
  foreach(proto ${ARGN})
    string(REGEX REPLACE "\\.proto$" "" stem ${proto})
    set(generated
      ${out_dir}/${stem}.pb.cc ${out_dir}/${stem}.pb.h
      ${out_dir}/${stem}.grpc.pb.cc ${out_dir}/${stem}.grpc.pb.h)
    add_custom_command(
      OUTPUT ${generated}
      COMMAND protobuf::protoc
        --proto_path=${root}
        --cpp_out=${out_dir}
        --grpc_out=${out_dir}
        --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>
        ${root}/${proto}
      DEPENDS ${root}/${proto} protobuf::protoc gRPC::grpc_cpp_plugin
      COMMENT "protoc ${proto}"
      VERBATIM)
    list(APPEND srcs ${out_dir}/${stem}.pb.cc ${out_dir}/${stem}.grpc.pb.cc)
  endforeach()
  add_library(${target} STATIC ${srcs})
  target_include_directories(${target} SYSTEM PUBLIC ${out_dir})
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf gRPC::grpc++)
endfunction()
