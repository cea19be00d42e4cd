#include "mbrt.h"
const char test_name[] = "page_fault";
void test_main(u32 m, u32 i) { (void)m; (void)i; }
