/* tunclient.c: placeholder while the real module is written. */
#include "config.h"
#include "common/common.h"
