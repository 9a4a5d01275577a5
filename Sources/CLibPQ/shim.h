#ifndef ENCOURS_CLIBPQ_SHIM_H
#define ENCOURS_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
