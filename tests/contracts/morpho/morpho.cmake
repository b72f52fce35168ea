# Morpho Blue for tests and the demo: compiled at build time from the pinned npm package's
# Solidity sources (it ships no bytecode), then the fixture that deploys it and the
# vigil_devnet tool. Included from tests/CMakeLists.txt after vigil_test_support.
find_program(VIGIL_NODE node REQUIRED)
set(VIGIL_MORPHO_PACKAGE "${VIGIL_TOOLS_DIR}/@morpho-org/morpho-blue")
set(VIGIL_MORPHO_ARTIFACTS_DIR "${CMAKE_BINARY_DIR}/contracts/morpho")
file(GLOB_RECURSE vigil_morpho_sources CONFIGURE_DEPENDS "${VIGIL_MORPHO_PACKAGE}/src/*.sol")
set(vigil_morpho_artifacts)
foreach(contract Morpho ERC20Mock OracleMock IrmMock)
    list(APPEND vigil_morpho_artifacts "${VIGIL_MORPHO_ARTIFACTS_DIR}/${contract}.json")
endforeach()
# About 10 s (solc-js, via-IR with 999,999 optimizer runs); once per build directory.
add_custom_command(
    OUTPUT ${vigil_morpho_artifacts}
    COMMAND ${VIGIL_NODE} "${CMAKE_CURRENT_LIST_DIR}/compile.js" "${VIGIL_TOOLS_DIR}"
            "${VIGIL_MORPHO_ARTIFACTS_DIR}"
    DEPENDS "${CMAKE_CURRENT_LIST_DIR}/compile.js" ${vigil_morpho_sources}
            "${VIGIL_TOOLS_DIR}/solc/package.json"
    COMMENT "Compiling Morpho Blue 1.0.0 and its mocks with solc-js 0.8.19"
    VERBATIM)
add_custom_target(vigil_morpho_contracts DEPENDS ${vigil_morpho_artifacts})

target_sources(vigil_test_support PRIVATE "${CMAKE_CURRENT_LIST_DIR}/../../support/morpho_fixture.cpp")
target_link_libraries(vigil_test_support PUBLIC vigil_keys vigil_strategies)
target_compile_definitions(vigil_test_support PUBLIC
    VIGIL_MORPHO_ARTIFACTS_DIR="${VIGIL_MORPHO_ARTIFACTS_DIR}")
add_dependencies(vigil_test_support vigil_morpho_contracts)

# vigil_devnet setup|set-price: deploys the fixture on a running node (scripts/demo.sh).
add_executable(vigil_devnet "${CMAKE_CURRENT_LIST_DIR}/../../devnet/main.cpp")
target_link_libraries(vigil_devnet PRIVATE vigil_test_support)
vigil_warnings(vigil_devnet)
