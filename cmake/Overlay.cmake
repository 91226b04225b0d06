# Builds the tree that is compiled: pinned upstream Caffe, with patches/series
# applied, with this repository's files laid over it (same path replaces, new
# path adds). The result lives in ${CAFFE_MERGED_DIR}; a file there is
# rewritten only when its content changes, so incremental builds stay
# incremental. Editing an overlay file or a patch re-runs this at build time.

set(CAFFE_UPSTREAM "" CACHE PATH
    "Tarball or directory of upstream Caffe 99bd997 (empty: cache, Debian, GitHub)")

# Folders of this repository that mirror upstream's layout.
set(CAFFE_OVERLAY_DIRS include src tools python examples models data docs)

# Removes from `dir` the files (relative paths) that the previous run listed
# in `manifest` and that `files` no longer has, then records `files` there:
# a mirrored tree loses what its source lost, and nothing else.
function(caffe_drop_stale_files dir manifest files)
  if(EXISTS "${manifest}")
    file(STRINGS "${manifest}" previous)
    list(REMOVE_ITEM previous ${files})
    foreach(rel IN LISTS previous)
      file(REMOVE "${dir}/${rel}")
    endforeach()
  endif()
  list(JOIN files "\n" content)
  file(WRITE "${manifest}" "${content}\n")
endfunction()

function(caffe_fetch_upstream out_dir)
  execute_process(
    COMMAND "${PROJECT_SOURCE_DIR}/scripts/fetch-upstream" ${CAFFE_UPSTREAM}
    OUTPUT_VARIABLE dir OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT IS_DIRECTORY "${dir}")
    message(FATAL_ERROR "Could not obtain upstream Caffe 99bd997 (see above). "
                        "Set -DCAFFE_UPSTREAM=<tarball or directory>.")
  endif()
  set(${out_dir} "${dir}" PARENT_SCOPE)
endfunction()

# Applies the series to copies of the files it touches; returns the folder
# holding the patched files and their relative paths.
function(caffe_apply_patches upstream_dir out_dir out_files)
  set(patch_dir "${PROJECT_SOURCE_DIR}/patches")
  set(stage "${CMAKE_BINARY_DIR}/patched")
  file(STRINGS "${patch_dir}/series" series REGEX "^[^#]")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${patch_dir}/series")
  set(touched)
  foreach(name IN LISTS series)
    file(STRINGS "${patch_dir}/${name}" targets REGEX "^\\+\\+\\+ b/")
    list(TRANSFORM targets REPLACE "^\\+\\+\\+ b/([^\t ]+).*" "\\1")
    list(APPEND touched ${targets})
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${patch_dir}/${name}")
  endforeach()
  list(REMOVE_DUPLICATES touched)
  file(REMOVE_RECURSE "${stage}")
  foreach(rel IN LISTS touched)
    get_filename_component(parent "${stage}/${rel}" DIRECTORY)
    file(MAKE_DIRECTORY "${parent}")
    file(COPY_FILE "${upstream_dir}/${rel}" "${stage}/${rel}")
  endforeach()
  find_program(PATCH_EXECUTABLE patch REQUIRED)
  foreach(name IN LISTS series)
    execute_process(
      COMMAND "${PATCH_EXECUTABLE}" -p1 -s -f --no-backup-if-mismatch
              -i "${patch_dir}/${name}"
      WORKING_DIRECTORY "${stage}" RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "patches/${name} does not apply to upstream Caffe")
    endif()
  endforeach()
  set(${out_dir} "${stage}" PARENT_SCOPE)
  set(${out_files} "${touched}" PARENT_SCOPE)
endfunction()

function(caffe_merge_overlay)
  caffe_fetch_upstream(upstream)
  caffe_apply_patches("${upstream}" patched patched_files)

  set(merged "${CMAKE_BINARY_DIR}/merged")
  file(GLOB_RECURSE upstream_files RELATIVE "${upstream}" "${upstream}/*")
  list(FILTER upstream_files EXCLUDE REGEX "^\\.verified$")
  set(overlay_globs)
  foreach(dir IN LISTS CAFFE_OVERLAY_DIRS)
    list(APPEND overlay_globs "${PROJECT_SOURCE_DIR}/${dir}/*")
  endforeach()
  file(GLOB_RECURSE overlay_files CONFIGURE_DEPENDS RELATIVE "${PROJECT_SOURCE_DIR}"
       ${overlay_globs})

  foreach(rel IN LISTS overlay_files)
    if(rel IN_LIST patched_files)
      message(FATAL_ERROR "${rel} is both replaced and patched: do one or the other")
    endif()
  endforeach()

  # Source of each merged file: overlay, else patched, else pristine upstream.
  set(all_files ${upstream_files} ${overlay_files})
  list(REMOVE_DUPLICATES all_files)
  foreach(rel IN LISTS all_files)
    if(rel IN_LIST overlay_files)
      set(from "${PROJECT_SOURCE_DIR}/${rel}")
      set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${from}")
    elseif(rel IN_LIST patched_files)
      set(from "${patched}/${rel}")
    else()
      set(from "${upstream}/${rel}")
    endif()
    get_filename_component(parent "${merged}/${rel}" DIRECTORY)
    file(MAKE_DIRECTORY "${parent}")
    file(COPY_FILE "${from}" "${merged}/${rel}" ONLY_IF_DIFFERENT)
  endforeach()

  # Drop files an earlier merge placed that no longer have a source (an
  # overlay file deleted from the repository); build outputs are left alone.
  caffe_drop_stale_files("${merged}" "${CMAKE_BINARY_DIR}/merged-files.txt" "${all_files}")

  # The merged tree is $CAFFE_ROOT (env.sh), where upstream's tutorials run:
  # their scripts call ./build/tools/caffe and ./build/examples/..., which
  # this link makes this build.
  file(CREATE_LINK ".." "${merged}/build" SYMBOLIC)

  list(LENGTH overlay_files n_overlay)
  list(LENGTH patched_files n_patched)
  message(STATUS "Merged upstream Caffe 99bd997 (${upstream}) with ${n_patched} "
                 "patched and ${n_overlay} overlay files into ${merged}")
  set(CAFFE_MERGED_DIR "${merged}" PARENT_SCOPE)
  set(CAFFE_UPSTREAM_DIR "${upstream}" PARENT_SCOPE)
endfunction()
