/* Native driver for a workload: scale from argv[1], checksum printed in hex. */
#include <stdio.h>
#include <stdlib.h>
unsigned long long workload(unsigned long long scale);
int main(int argc, char **argv) {
    unsigned long long scale = argc > 1 ? strtoull(argv[1], 0, 0) : 1;
    printf("%llx\n", workload(scale));
    return 0;
}
