// zlib from Debian's zlib1g-dev: ZStack deflates message bodies with java.util.zip (zlib format) when
// CloudBus.compressNonApiMessage is on.
#include <zlib.h>
