/*
 * A minimal C harness doing what faultput's seed form does, for bench/fidelity.py to run
 * from a clone where the reference port (../shared/reference/) is not at hand.
 *
 *   harness <separate-objects|share-objects> <duration_s> <threads>
 *
 * Each iteration the main thread maps memory_per_cpu x online CPUs in 128 MiB objects
 * (MADV_NOHUGEPAGE), builds the work queue (share-objects: each object once per thread,
 * item j starting j pages in, every thread striding threads pages), stamps the time and
 * releases the workers; they take items from one atomic index and write one byte per
 * page, timing their own CPU time; the main thread stamps the time when the last one is
 * done, then unmaps. Iterations repeat until the summed wall time reaches the duration.
 * Output: the seed's result block, "wall,cpu" pages per second.
 *
 * Functions:
 *   now_ns(clock)      a clock in nanoseconds
 *   worker(arg)        a worker thread: park, take items, touch, report, repeat
 *   main()             parse, run the iterations, print the block
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define OBJECT_BYTES (128UL << 20)

typedef struct { unsigned char *start; size_t bytes; } item_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static unsigned long round_number, rounds_done, parked;
static unsigned threads, running;
static int done;
static item_t *items;
static size_t item_count, stride;
static atomic_size_t next_item;
static uint64_t cpu_ns_total;

static uint64_t now_ns(clockid_t clock);
static void *worker(void *arg);

static uint64_t
now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static void *
worker(void *arg)
{
    unsigned long seen = 0;
    (void) arg;
    for (;;) {
        pthread_mutex_lock(&lock);
        parked++;
        pthread_cond_broadcast(&wake);
        while (!done && round_number == seen) {
            pthread_cond_wait(&wake, &lock);
        }
        parked--;
        seen = round_number;
        if (done) {
            pthread_mutex_unlock(&lock);
            return NULL;
        }
        pthread_mutex_unlock(&lock);

        uint64_t cpu_ns = 0;
        for (size_t i; (i = atomic_fetch_add(&next_item, 1)) < item_count;) {
            uint64_t before = now_ns(CLOCK_THREAD_CPUTIME_ID);
            for (volatile unsigned char *p = items[i].start; p < items[i].start + items[i].bytes; p += stride) {
                *p = 1;
            }
            cpu_ns += now_ns(CLOCK_THREAD_CPUTIME_ID) - before;
        }

        pthread_mutex_lock(&lock);
        cpu_ns_total += cpu_ns;
        if (--running == 0) {
            rounds_done = seen;
            pthread_cond_broadcast(&wake);
        } else {
            while (rounds_done != seen) {
                pthread_cond_wait(&wake, &lock);
            }
        }
        pthread_mutex_unlock(&lock);
    }
}

int
main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s <separate-objects|share-objects> <duration_s> <threads>\n", argv[0]);
        return 2;
    }
    int share = strncasecmp(argv[1], "share-objects", 13) == 0;
    double duration_s = atof(argv[2]);
    threads = (unsigned) atoi(argv[3]);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN), page = sysconf(_SC_PAGESIZE);
    if (duration_s <= 0 || threads == 0) {
        fprintf(stderr, "duration and threads must be positive\n");
        return 2;
    }
    size_t objects = (size_t) (ncpu > (long) threads ? ncpu : (long) threads);
    unsigned char **mapped = calloc(objects, sizeof(*mapped));
    items = calloc(objects * threads, sizeof(*items));
    pthread_t *ids = calloc(threads, sizeof(*ids));
    if (mapped == NULL || items == NULL || ids == NULL) {
        perror("calloc");
        return 1;
    }
    for (unsigned t = 0; t < threads; t++) {
        pthread_create(&ids[t], NULL, worker, NULL);
    }
    uint64_t wall_ns = 0, pages = 0;
    while (wall_ns < (uint64_t) (duration_s * 1e9)) {
        pthread_mutex_lock(&lock);
        while (parked != threads) {
            pthread_cond_wait(&wake, &lock);
        }
        item_count = 0;
        for (size_t k = 0; k < objects; k++) {
            mapped[k] = mmap(NULL, OBJECT_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (mapped[k] == MAP_FAILED) {
                perror("mmap");
                return 1;
            }
            madvise(mapped[k], OBJECT_BYTES, MADV_NOHUGEPAGE);
            for (unsigned j = 0; j < (share ? threads : 1); j++) {
                items[item_count++] = (item_t) { mapped[k] + j * page, OBJECT_BYTES - j * page };
            }
        }
        stride = (size_t) page * (share ? threads : 1);
        atomic_store(&next_item, 0);
        running = threads;
        uint64_t start_ns = now_ns(CLOCK_MONOTONIC_RAW);
        round_number++;
        pthread_cond_broadcast(&wake);
        while (rounds_done != round_number) {
            pthread_cond_wait(&wake, &lock);
        }
        wall_ns += now_ns(CLOCK_MONOTONIC_RAW) - start_ns;
        pthread_mutex_unlock(&lock);
        for (size_t k = 0; k < objects; k++) {
            munmap(mapped[k], OBJECT_BYTES);
        }
        pages += objects * (OBJECT_BYTES / (size_t) page);
    }
    pthread_mutex_lock(&lock);
    done = 1;
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    for (unsigned t = 0; t < threads; t++) {
        pthread_join(ids[t], NULL);
    }
    printf("-----Results-----\n");
    printf("Throughput (pages / wall second), Throughput (pages / CPU second)\n");
    printf("%f,%f\n", pages / (wall_ns / 1e9), pages / (cpu_ns_total / 1e9));
    return 0;
}
