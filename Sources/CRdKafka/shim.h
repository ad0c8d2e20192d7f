// CRdKafka: librdkafka (Debian librdkafka-dev 2.0.2) for Swift.
// rdkafka.h must come before rdkafka_mock.h, which uses its types.
#ifndef CRDKAFKA_SHIM_H
#define CRDKAFKA_SHIM_H
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#endif
