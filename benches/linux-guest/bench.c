/*
 * The Linux side of `cargo xtask bench qemu`: the jobs of the bench image
 * (tests/qemu/src/bench.rs) done the Linux way, as /init of an initramfs on
 * a stock Debian arm64 kernel, on the same -cpu, -smp and -m.
 *
 * Timed with the generic timer's virtual count (CNTVCT_EL0, readable at
 * EL0 on Linux, after an ISB), as the bench image is. Each job sets up
 * untimed, then times `ops` operations `reps` times (kernel command line
 * `reps=`, `pages=` and `only=JOB`, which Linux hands to init as
 * environment variables), and prints `bench JOB NS NS ...`: ns per
 * operation of each repetition. The jobs that need four CPUs (the
 * userfaultfd server on CPU 1, the unmap seen by four) run only with four. Anonymous regions are madvise(MADV_NOHUGEPAGE): the jobs
 * compare 4 KiB faults. Then it powers the machine off.
 *
 * Built static by the xtask with Debian's aarch64-linux-gnu-gcc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096UL
#define CALLS 16
#define SYNC_BYTES (64UL << 10)
#define MAP_BYTES (1UL << 20)

static unsigned long reps = 9, pages = 256, freq;
static const char *only;

static uint64_t ticks(void) {
    uint64_t t;
    __asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(t)::"memory");
    return t;
}

static void die(const char *what) {
    printf("bench-error %s: %s\n", what, strerror(errno));
    fflush(stdout);
    reboot(RB_POWER_OFF);
    _exit(1);
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set))
        die("sched_setaffinity");
}

/* An anonymous private region of `len` bytes, 4 KiB pages only. */
static char *anon(size_t len) {
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap");
    if (madvise(p, len, MADV_NOHUGEPAGE))
        die("madvise");
    return p;
}

static void store_each_page(char *p, unsigned long n, uint64_t v) {
    for (unsigned long i = 0; i < n; i++)
        *(volatile uint64_t *)(p + i * PAGE) = v;
}

static uint64_t load_each_page(char *p, unsigned long n) {
    uint64_t sum = 0;
    for (unsigned long i = 0; i < n; i++)
        sum += *(volatile uint64_t *)(p + i * PAGE);
    return sum;
}

/* Prints one job's line: `rep` returns the ticks of `ops` operations. */
static void job(const char *name, unsigned long ops, uint64_t (*rep)(void)) {
    if (only && strcmp(only, name))
        return;
    printf("bench %s", name);
    for (unsigned long r = 0; r < reps; r++) {
        uint64_t t = rep();
        printf(" %llu", (unsigned long long)((__uint128_t)t * 1000000000u / freq / ops));
    }
    printf("\n");
    fflush(stdout);
}

static uint64_t demand_zero(void) {
    char *p = anon(pages * PAGE);
    uint64_t t = ticks();
    store_each_page(p, pages, 1);
    t = ticks() - t;
    munmap(p, pages * PAGE);
    return t;
}

static uint64_t zero_read(void) {
    char *p = anon(pages * PAGE);
    uint64_t t = ticks();
    load_each_page(p, pages);
    t = ticks() - t;
    munmap(p, pages * PAGE);
    return t;
}

/* A child of fork() stores to each page its parent had written: the
 * copy-on-write fault of each (fork copies the entries write-protected). */
static uint64_t cow_write(void) {
    char *p = anon(pages * PAGE);
    uint64_t *result = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (result == MAP_FAILED)
        die("mmap shared");
    store_each_page(p, pages, 1);
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        uint64_t t = ticks();
        store_each_page(p, pages, 2);
        *result = ticks() - t;
        _exit(0);
    }
    int status;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status))
        die("waitpid");
    uint64_t t = *result;
    munmap(result, PAGE);
    munmap(p, pages * PAGE);
    return t;
}

/* userfaultfd MISSING faults on CPU 0 served on CPU 1 with UFFDIO_COPY. */
struct uffd_job {
    int uffd;
    char *source;
    unsigned long pages;
};

static void *uffd_server(void *arg) {
    struct uffd_job *j = arg;
    pin(1);
    for (unsigned long served = 0; served < j->pages;) {
        struct uffd_msg msg;
        ssize_t n = read(j->uffd, &msg, sizeof msg);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != sizeof msg)
            die("read userfaultfd");
        if (msg.event != UFFD_EVENT_PAGEFAULT)
            continue;
        struct uffdio_copy copy = {
            .dst = msg.arg.pagefault.address & ~(PAGE - 1),
            .src = (unsigned long)j->source,
            .len = PAGE,
        };
        if (ioctl(j->uffd, UFFDIO_COPY, &copy) && errno != EEXIST)
            die("UFFDIO_COPY");
        served++;
    }
    return NULL;
}

static uint64_t uffd_round_trip(void) {
    int uffd = syscall(SYS_userfaultfd, O_CLOEXEC);
    if (uffd < 0)
        die("userfaultfd");
    struct uffdio_api api = {.api = UFFD_API};
    if (ioctl(uffd, UFFDIO_API, &api))
        die("UFFDIO_API");
    char *p = anon(pages * PAGE);
    struct uffdio_register reg = {
        .range = {.start = (unsigned long)p, .len = pages * PAGE},
        .mode = UFFDIO_REGISTER_MODE_MISSING,
    };
    if (ioctl(uffd, UFFDIO_REGISTER, &reg))
        die("UFFDIO_REGISTER");
    struct uffd_job j = {.uffd = uffd, .source = anon(PAGE), .pages = pages};
    store_each_page(j.source, 1, 7);
    pthread_t server;
    if (pthread_create(&server, NULL, uffd_server, &j))
        die("pthread_create");
    uint64_t t = ticks();
    load_each_page(p, pages);
    t = ticks() - t;
    pthread_join(server, NULL);
    close(uffd);
    munmap(j.source, PAGE);
    munmap(p, pages * PAGE);
    return t;
}

/* A store to each page of a populated region made read-only with mprotect:
 * SIGSEGV, whose handler makes the page writable again, and the store
 * resumes (userfaultfd's write-protect mode needs
 * CONFIG_HAVE_ARCH_USERFAULTFD_WP, which arm64 Linux 6.1 lacks). */
static void make_writable(int sig, siginfo_t *info, void *context) {
    (void)sig;
    (void)context;
    char *page = (char *)((unsigned long)info->si_addr & ~(PAGE - 1));
    if (mprotect(page, PAGE, PROT_READ | PROT_WRITE))
        _exit(3);
}

static uint64_t write_protect_trap(void) {
    char *p = anon(pages * PAGE);
    store_each_page(p, pages, 1);
    if (mprotect(p, pages * PAGE, PROT_READ))
        die("mprotect");
    uint64_t t = ticks();
    store_each_page(p, pages, 3);
    t = ticks() - t;
    munmap(p, pages * PAGE);
    return t;
}

/* The same job as ZX_VMO_OP_CACHE_SYNC: data cache clean and instruction
 * cache invalidate to the point of unification, from EL0. */
static char *sync_buffer;

static uint64_t cache_sync(void) {
    uint64_t t = ticks();
    for (int i = 0; i < CALLS; i++)
        __builtin___clear_cache(sync_buffer, sync_buffer + SYNC_BYTES);
    return ticks() - t;
}

/* munmap of one page that threads on all four CPUs loaded. The three
 * loaders on CPUs 1-3 sleep in a barrier between rounds, as threads do;
 * the unmap is timed once they have had 2 ms to fall asleep, so that their
 * wake-ups are not timed with it. */
static pthread_barrier_t start_round;
static char *shared_page;
static atomic_int loaded;

static void *loader(void *arg) {
    pin((int)(long)arg);
    for (;;) {
        pthread_barrier_wait(&start_round);
        if (!shared_page)
            return NULL;
        load_each_page(shared_page, 1);
        atomic_fetch_add(&loaded, 1);
    }
}

static uint64_t unmap_four_cores(void) {
    uint64_t t = 0;
    for (int i = 0; i < CALLS; i++) {
        char *p = anon(PAGE);
        store_each_page(p, 1, 1);
        shared_page = p;
        atomic_store(&loaded, 0);
        pthread_barrier_wait(&start_round);
        load_each_page(p, 1);
        while (atomic_load(&loaded) < 3)
            sched_yield();
        usleep(2000);
        uint64_t start = ticks();
        munmap(p, PAGE);
        t += ticks() - start;
    }
    return t;
}

static uint64_t map_touch(void) {
    uint64_t t = 0;
    for (int i = 0; i < CALLS / 4; i++) {
        uint64_t start = ticks();
        char *p = anon(MAP_BYTES);
        store_each_page(p, MAP_BYTES / PAGE, 4);
        t += ticks() - start;
        munmap(p, MAP_BYTES);
    }
    return t;
}

/* memset of each page of a committed buffer: glibc's page zeroing. */
static char *page_buffer, *page_source;

static uint64_t zero_page(void) {
    uint64_t t = ticks();
    for (unsigned long i = 0; i < pages; i++)
        memset(page_buffer + i * PAGE, 0, PAGE);
    t = ticks() - t;
    __asm__ volatile("" ::"r"(page_buffer) : "memory");
    return t;
}

/* memcpy of each page of a committed buffer from another. */
static uint64_t copy_page(void) {
    uint64_t t = ticks();
    for (unsigned long i = 0; i < pages; i++)
        memcpy(page_buffer + i * PAGE, page_source + i * PAGE, PAGE);
    t = ticks() - t;
    __asm__ volatile("" ::"r"(page_buffer) : "memory");
    return t;
}

static unsigned long env(const char *name, unsigned long fallback) {
    const char *v = getenv(name);
    unsigned long n = v ? strtoul(v, NULL, 10) : 0;
    return n ? n : fallback;
}

int main(void) {
    reps = env("reps", reps);
    pages = env("pages", pages);
    only = getenv("only");
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(freq));
    cpu_set_t online;
    if (sched_getaffinity(0, sizeof online, &online))
        die("sched_getaffinity");
    pin(0);
    printf("bench-setup cpus=%d freq=%lu reps=%lu pages=%lu\n", CPU_COUNT(&online), freq, reps, pages);
    struct sigaction sa = {.sa_sigaction = make_writable, .sa_flags = SA_SIGINFO};
    if (sigaction(SIGSEGV, &sa, NULL))
        die("sigaction");
    job("demand_zero", pages, demand_zero);
    job("zero_read", pages, zero_read);
    job("cow_write", pages, cow_write);
    int four = CPU_COUNT(&online) >= 4;
    if (four)
        job("pager_round_trip", pages, uffd_round_trip);
    job("dirty_write", pages, write_protect_trap);
    sync_buffer = anon(SYNC_BYTES);
    store_each_page(sync_buffer, SYNC_BYTES / PAGE, 1);
    job("cache_sync_64k", CALLS, cache_sync);
    if (four && (!only || !strcmp(only, "unmap_4_cores"))) {
        pthread_t loaders[3];
        if (pthread_barrier_init(&start_round, NULL, 4))
            die("pthread_barrier_init");
        for (long cpu = 1; cpu <= 3; cpu++)
            if (pthread_create(&loaders[cpu - 1], NULL, loader, (void *)cpu))
                die("pthread_create");
        job("unmap_4_cores", CALLS, unmap_four_cores);
        shared_page = NULL;
        pthread_barrier_wait(&start_round);
        for (int i = 0; i < 3; i++)
            pthread_join(loaders[i], NULL);
    }
    job("map_touch_1m", CALLS / 4, map_touch);
    page_buffer = anon(pages * PAGE);
    page_source = anon(pages * PAGE);
    store_each_page(page_buffer, pages, 1);
    store_each_page(page_source, pages, 2);
    job("zero_page", pages, zero_page);
    job("copy_page", pages, copy_page);
    printf("bench-done\n");
    fflush(stdout);
    sync();
    reboot(RB_POWER_OFF);
    return 0;
}
