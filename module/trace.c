// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: instantiates the tracepoints declared in trace.h, once.  No
 * state and no locks of its own.
 */
#define CREATE_TRACE_POINTS
#include "trace.h"
