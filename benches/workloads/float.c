/* Floating point: an n-body style kernel and a numeric integration, in double (SSE2). */
typedef unsigned long long u64;
#define NB 5
static double px[NB], py[NB], pz[NB], vx[NB], vy[NB], vz[NB], m[NB];

static double my_sqrt(double x) {
    double r;
    __asm__("sqrtsd %1, %0" : "=x"(r) : "x"(x));
    return r;
}

unsigned long long workload(unsigned long long scale) {
    for (int i = 0; i < NB; i++) {
        px[i] = i * 1.5; py[i] = i * -0.7; pz[i] = i * 0.3;
        vx[i] = 0.01 * i; vy[i] = 0.02; vz[i] = -0.01 * i;
        m[i] = 1.0 + i * 0.1;
    }
    double dt = 0.001, integral = 0.0;
    for (u64 step = 0; step < scale * 20000; step++) {
        for (int i = 0; i < NB; i++)
            for (int j = i + 1; j < NB; j++) {
                double dx = px[i] - px[j], dy = py[i] - py[j], dz = pz[i] - pz[j];
                double d2 = dx * dx + dy * dy + dz * dz + 0.01;
                double inv = 1.0 / (d2 * my_sqrt(d2));
                vx[i] -= dx * m[j] * inv * dt; vy[i] -= dy * m[j] * inv * dt; vz[i] -= dz * m[j] * inv * dt;
                vx[j] += dx * m[i] * inv * dt; vy[j] += dy * m[i] * inv * dt; vz[j] += dz * m[i] * inv * dt;
            }
        for (int i = 0; i < NB; i++) { px[i] += vx[i] * dt; py[i] += vy[i] * dt; pz[i] += vz[i] * dt; }
        double t = step * 1e-4;
        integral += t / (1.0 + t * t) * 1e-4;
    }
    double e = integral;
    for (int i = 0; i < NB; i++) e += px[i] + py[i] + pz[i];
    union { double d; u64 u; } c = { e };
    return c.u;
}
