#ifndef ORCH_CJANSSON_SHIM_H
#define ORCH_CJANSSON_SHIM_H
#include <jansson.h>

// Jansson's reference counting and type checks are macros or inline functions; these wrappers
// give Swift plain functions to call.
static inline void orch_json_decref(json_t *json) { json_decref(json); }
static inline int orch_json_typeof(const json_t *json) { return (int)json_typeof(json); }
static inline size_t orch_json_flags_indent(int n) { return JSON_INDENT(n); }
static inline size_t orch_json_flags_real_precision(int n) { return JSON_REAL_PRECISION(n); }
#endif
