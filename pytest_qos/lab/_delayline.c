/* The WAN delay line's forwarding loop in C: the `c` engine of delayline.py.
 *
 * delayline.py opens and binds the sockets, takes real-time priority and parses the command
 * line; `forward()` here does the per-frame work until a signal's Python handler raises:
 * read frames (a TPACKET_V3 receive ring: no system call per frame), hold each in a binary
 * heap until its departure (receive timestamp + delay + jitter), send the due ones in batches
 * (sendmmsg), and count everything in the shared statistics block that the lab reads while
 * the line runs (layout: STATS_* in delayline.py; the two are checked against each other).
 *
 * Nothing here is needed for the lab to work: without a compiler the package installs
 * without this module and delayline.py forwards in Python (the `python` engine).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Indices of the statistics block (uint64 words); delayline.py's STATS_FIELDS names them. */
enum {
    ST_MAGIC, ST_VERSION, ST_PID, ST_UPDATED, ST_RECEIVED, ST_RECEIVED_BYTES, ST_SENT,
    ST_SENT_BYTES, ST_LOST, ST_RATE_DROPS, ST_BOUND_DROPS, ST_KERNEL_DROPS, ST_SEND_DROPS,
    ST_SEND_ERRORS, ST_TRUNCATED, ST_QUEUED, ST_QUEUED_BYTES, ST_PEAK_BYTES, ST_BOUND,
    ST_LATE_MAX, ST_EARLY, ST_ENGINE, ST_FIELDS
};
#define ST_HISTOGRAM 32          /* first word of the lateness histogram */
#define HISTOGRAM_BUCKETS 512    /* log-linear: 16 sub-buckets per power of two of ns */
#define STATS_WORDS (ST_HISTOGRAM + HISTOGRAM_BUCKETS)
#define STATS_VERSION 1
#define ENGINE_C 2

#define NS 1000000000LL
#define VNET_HEADER 10
#define BATCH 64                 /* frames per sendmmsg */
#define EARLY_NS 50000LL         /* first guess of a timed wake-up's overshoot */
#define MAX_EARLY_NS 300000LL    /* never send a frame more than this before its time */
#define REFRESH_NS 5000000LL     /* statistics (and the parent) are looked at this often */
#define BLOCK_SIZE (1 << 20)     /* receive ring: 16 blocks of 1 MiB, each holding ~690 */
#define BLOCK_COUNT 16           /* full-sized frames or 15 GSO super-frames */
#define FRAME_MAX (65536 + 64)
#define BLOCKS_PER_PASS 4        /* blocks read before due frames are sent again */

typedef struct {
    int64_t due;
    uint64_t seq;
    uint32_t len;
    uint8_t *data;
} entry_t;

typedef struct {
    entry_t *items;
    size_t count, capacity;
} heap_t;

typedef struct {
    int rx, tx;
    volatile uint64_t *stats;
    int64_t delay, jitter, bound, last, early;
    double loss;
    int reorder;
    uint64_t rng, seq;
    heap_t heap;
    uint8_t *ring;
    size_t next_block;
    uint8_t *staging; /* recvmmsg mode (no ring): BATCH buffers of FRAME_MAX */
} line_t;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t); /* the clock of the kernel's receive timestamps */
    return (int64_t)t.tv_sec * NS + t.tv_nsec;
}

static uint64_t next_random(uint64_t *state) { /* splitmix64 */
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *state) { return (next_random(state) >> 11) * 0x1.0p-53; }

/* The histogram bucket of a lateness in ns: exact below 16, then 16 per power of two. */
static size_t bucket(int64_t late) {
    if (late < 16) return late < 0 ? 0 : (size_t)late;
    int bits = 64 - __builtin_clzll((uint64_t)late);
    size_t index = (size_t)(bits - 4) * 16 + (size_t)((late >> (bits - 5)) & 15);
    return index < HISTOGRAM_BUCKETS ? index : HISTOGRAM_BUCKETS - 1;
}

static int earlier(const entry_t *a, const entry_t *b) {
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static int heap_push(heap_t *heap, entry_t entry) {
    if (heap->count == heap->capacity) {
        size_t capacity = heap->capacity ? heap->capacity * 2 : 1024;
        entry_t *items = realloc(heap->items, capacity * sizeof(entry_t));
        if (!items) return -1;
        heap->items = items;
        heap->capacity = capacity;
    }
    size_t i = heap->count++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!earlier(&entry, &heap->items[parent])) break;
        heap->items[i] = heap->items[parent];
        i = parent;
    }
    heap->items[i] = entry;
    return 0;
}

static entry_t heap_pop(heap_t *heap) {
    entry_t top = heap->items[0], last = heap->items[--heap->count];
    size_t i = 0, n = heap->count;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && earlier(&heap->items[child + 1], &heap->items[child])) child++;
        if (!earlier(&heap->items[child], &last)) break;
        heap->items[i] = heap->items[child];
        i = child;
    }
    if (n) heap->items[i] = last;
    return top;
}

/* ARP, or IPv6 neighbour solicitation/advertisement: never lost (see delayline.py). */
static int neighbour_discovery(const uint8_t *frame, uint32_t len) {
    if (len < VNET_HEADER + 14) return 0;
    const uint8_t *type = frame + VNET_HEADER + 12;
    if (type[0] == 0x08 && type[1] == 0x06) return 1;
    uint32_t ip6 = VNET_HEADER + 14;
    return type[0] == 0x86 && type[1] == 0xdd && len > ip6 + 40 && frame[ip6 + 6] == 58 &&
           (frame[ip6 + 40] == 135 || frame[ip6 + 40] == 136);
}

/* Take one received frame (virtio header first): lose it, drop it at the bound, or hold it. */
static void hold(line_t *line, const uint8_t *frame, uint32_t len, int64_t arrived) {
    volatile uint64_t *st = line->stats;
    st[ST_RECEIVED]++;
    st[ST_RECEIVED_BYTES] += len - VNET_HEADER;
    if (line->loss > 0 && uniform(&line->rng) < line->loss && !neighbour_discovery(frame, len)) {
        st[ST_LOST]++;
        return;
    }
    if ((int64_t)(st[ST_QUEUED_BYTES] + len) > line->bound) {
        st[ST_BOUND_DROPS]++;
        return;
    }
    int64_t due = arrived + line->delay;
    if (line->jitter)
        due += (int64_t)(uniform(&line->rng) * (double)(2 * line->jitter + 1)) - line->jitter;
    if (!line->reorder) { /* never before the frame ahead of it: order is kept */
        if (due < line->last) due = line->last;
        line->last = due;
    }
    uint8_t *copy = malloc(len);
    if (!copy) {
        st[ST_BOUND_DROPS]++;
        return;
    }
    memcpy(copy, frame, len);
    entry_t entry = {due, line->seq++, len, copy};
    if (heap_push(&line->heap, entry) < 0) {
        free(copy);
        st[ST_BOUND_DROPS]++;
        return;
    }
    st[ST_QUEUED]++;
    st[ST_QUEUED_BYTES] += len;
    if (st[ST_QUEUED_BYTES] > st[ST_PEAK_BYTES]) st[ST_PEAK_BYTES] = st[ST_QUEUED_BYTES];
}

static void release(line_t *line, entry_t *entry) {
    line->stats[ST_QUEUED]--;
    line->stats[ST_QUEUED_BYTES] -= entry->len;
    free(entry->data);
}

/* Send every held frame due by `horizon`, BATCH at a time; count what could not go out. */
static void send_due(line_t *line, int64_t horizon) {
    volatile uint64_t *st = line->stats;
    entry_t batch[BATCH];
    struct mmsghdr messages[BATCH];
    struct iovec vectors[BATCH];
    while (line->heap.count && line->heap.items[0].due <= horizon) {
        int n = 0;
        while (n < BATCH && line->heap.count && line->heap.items[0].due <= horizon) {
            batch[n] = heap_pop(&line->heap);
            vectors[n].iov_base = batch[n].data;
            vectors[n].iov_len = batch[n].len;
            memset(&messages[n], 0, sizeof messages[n]);
            messages[n].msg_hdr.msg_iov = &vectors[n];
            messages[n].msg_hdr.msg_iovlen = 1;
            n++;
        }
        int done = 0;
        while (done < n) {
            int sent = sendmmsg(line->tx, messages + done, (unsigned)(n - done), 0);
            int64_t now = now_ns();
            if (sent > 0) {
                for (int i = done; i < done + sent; i++) {
                    int64_t late = now - batch[i].due;
                    st[ST_SENT]++;
                    st[ST_SENT_BYTES] += batch[i].len - VNET_HEADER;
                    st[ST_HISTOGRAM + bucket(late)]++;
                    if (late > (int64_t)st[ST_LATE_MAX]) st[ST_LATE_MAX] = (uint64_t)late;
                }
                done += sent;
                continue;
            }
            if (sent < 0 && errno == EINTR) continue;
            /* The first unsent frame failed: ENOBUFS is the rate limit's queue (tbf) full,
             * EAGAIN the socket's own buffer full (the line cannot keep up). */
            int error = sent < 0 ? errno : EAGAIN;
            st[error == ENOBUFS ? ST_RATE_DROPS : error == EAGAIN ? ST_SEND_DROPS
                                                                  : ST_SEND_ERRORS]++;
            done++;
        }
        for (int i = 0; i < n; i++) release(line, &batch[i]);
    }
}

/* Read the ring's filled blocks (at most BLOCKS_PER_PASS) and hand them back to the kernel. */
static int read_ring(line_t *line) {
    int blocks = 0;
    while (blocks < BLOCKS_PER_PASS) {
        struct tpacket_block_desc *block =
            (struct tpacket_block_desc *)(line->ring + line->next_block * BLOCK_SIZE);
        if (!(__atomic_load_n(&block->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
            break;
        uint8_t *cursor = (uint8_t *)block + block->hdr.bh1.offset_to_first_pkt;
        for (uint32_t i = 0; i < block->hdr.bh1.num_pkts; i++) {
            struct tpacket3_hdr *header = (struct tpacket3_hdr *)cursor;
            if (header->tp_snaplen < header->tp_len || header->tp_mac < VNET_HEADER) {
                line->stats[ST_TRUNCATED]++;
            } else {
                int64_t arrived = (int64_t)header->tp_sec * NS + header->tp_nsec;
                hold(line, cursor + header->tp_mac - VNET_HEADER,
                     header->tp_snaplen + VNET_HEADER, arrived);
            }
            cursor += header->tp_next_offset;
        }
        __atomic_store_n(&block->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        line->next_block = (line->next_block + 1) % BLOCK_COUNT;
        blocks++;
    }
    return blocks;
}

/* Without a ring: one recvmmsg of up to BATCH frames, each with its receive timestamp. */
static int read_batch(line_t *line) {
    struct mmsghdr messages[BATCH];
    struct iovec vectors[BATCH];
    char controls[BATCH][CMSG_SPACE(sizeof(struct timespec))];
    memset(messages, 0, sizeof messages);
    for (int i = 0; i < BATCH; i++) {
        vectors[i].iov_base = line->staging + (size_t)i * FRAME_MAX;
        vectors[i].iov_len = FRAME_MAX;
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
        messages[i].msg_hdr.msg_control = controls[i];
        messages[i].msg_hdr.msg_controllen = sizeof controls[i];
    }
    int got = recvmmsg(line->rx, messages, BATCH, MSG_DONTWAIT, NULL);
    for (int i = 0; i < got; i++) {
        int64_t arrived = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&messages[i].msg_hdr); c;
             c = CMSG_NXTHDR(&messages[i].msg_hdr, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
                struct timespec stamp;
                memcpy(&stamp, CMSG_DATA(c), sizeof stamp);
                arrived = (int64_t)stamp.tv_sec * NS + stamp.tv_nsec;
            }
        }
        if (messages[i].msg_hdr.msg_flags & MSG_TRUNC)
            line->stats[ST_TRUNCATED]++;
        else
            hold(line, vectors[i].iov_base, messages[i].msg_len, arrived ? arrived : now_ns());
    }
    return got > 0 ? got : 0;
}

/* PACKET_STATISTICS (read and reset by the kernel): frames the ring had no room for. */
static void refresh(line_t *line, int64_t now) {
    struct tpacket_stats_v3 counted;
    socklen_t size = sizeof counted;
    memset(&counted, 0, sizeof counted);
    if (getsockopt(line->rx, SOL_PACKET, PACKET_STATISTICS, &counted, &size) == 0)
        line->stats[ST_KERNEL_DROPS] += counted.tp_drops;
    line->stats[ST_EARLY] = (uint64_t)line->early;
    __atomic_store_n(&line->stats[ST_UPDATED], (uint64_t)now, __ATOMIC_RELEASE);
}

static int open_ring(line_t *line) {
    int version = TPACKET_V3;
    struct tpacket_req3 request;
    memset(&request, 0, sizeof request);
    request.tp_block_size = BLOCK_SIZE;
    request.tp_block_nr = BLOCK_COUNT;
    request.tp_frame_size = 2048;
    request.tp_frame_nr = (BLOCK_SIZE / 2048) * BLOCK_COUNT;
    request.tp_retire_blk_tov = 1; /* ms: a block half full is handed over after this */
    if (setsockopt(line->rx, SOL_PACKET, PACKET_VERSION, &version, sizeof version) < 0 ||
        setsockopt(line->rx, SOL_PACKET, PACKET_RX_RING, &request, sizeof request) < 0)
        return -1;
    void *map = mmap(NULL, (size_t)BLOCK_SIZE * BLOCK_COUNT, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_POPULATE, line->rx, 0);
    if (map == MAP_FAILED) return -1;
    line->ring = map;
    return 0;
}

static void close_line(line_t *line) {
    while (line->heap.count) {
        entry_t entry = heap_pop(&line->heap);
        release(line, &entry);
    }
    free(line->heap.items);
    if (line->ring) munmap(line->ring, (size_t)BLOCK_SIZE * BLOCK_COUNT);
    free(line->staging);
}

/* One pass of waiting: until the head is due (minus `early`), a block is ready, or a refresh. */
static int wait_for_work(line_t *line, int64_t next_refresh) {
    int64_t now = now_ns();
    int64_t wake = next_refresh;
    int timed = 0;
    if (line->heap.count && line->heap.items[0].due - line->early < wake) {
        wake = line->heap.items[0].due - line->early;
        timed = 1;
    }
    int64_t wait = wake - now;
    if (wait <= 0) return 0;
    struct pollfd watched = {line->rx, POLLIN, 0};
    struct timespec timeout = {wait / NS, wait % NS};
    int ready = ppoll(&watched, 1, &timeout, NULL);
    if (ready < 0) return errno == EINTR ? 0 : -1;
    if (ready == 0 && timed) { /* learn how late a timed wake-up comes */
        int64_t overshoot = now_ns() - wake;
        if (overshoot < 0) overshoot = 0;
        if (overshoot > MAX_EARLY_NS) overshoot = MAX_EARLY_NS;
        line->early += (overshoot - line->early) / 8;
    }
    return 0;
}

static PyObject *forward(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *names[] = {"rx", "tx", "stats", "delay", "jitter", "loss", "reorder",
                            "bound", "seed", "parent", "ring", NULL};
    line_t line;
    memset(&line, 0, sizeof line);
    Py_buffer stats;
    unsigned long long seed = 0;
    long long delay, jitter, bound;
    int parent = 0, ring = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "iiw*LLdpLKi|p", names, &line.rx, &line.tx,
                                     &stats, &delay, &jitter, &line.loss, &line.reorder, &bound,
                                     &seed, &parent, &ring))
        return NULL;
    if (stats.len < (Py_ssize_t)(STATS_WORDS * sizeof(uint64_t))) {
        PyBuffer_Release(&stats);
        PyErr_SetString(PyExc_ValueError, "the statistics block is too small");
        return NULL;
    }
    line.stats = (volatile uint64_t *)stats.buf;
    line.delay = delay;
    line.jitter = jitter;
    line.bound = bound;
    line.rng = seed;
    line.early = EARLY_NS;
    line.stats[ST_ENGINE] = ENGINE_C;
    line.stats[ST_BOUND] = (uint64_t)bound;
    PyObject *result = NULL;
    /* Without a ring (a short delay, or a kernel that refuses one): recvmmsg into staging. */
    if (ring && open_ring(&line) < 0) ring = 0;
    if (!ring && !(line.staging = malloc((size_t)BATCH * FRAME_MAX))) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t next_refresh = 0;
    for (;;) {
        if (PyErr_CheckSignals() < 0) goto done; /* SIGTERM's handler raised: stop */
        int64_t now = now_ns();
        if (now >= next_refresh) {
            refresh(&line, now);
            next_refresh = now + REFRESH_NS;
            /* Orphaned (the lab's owner died): stop once nothing is held. */
            if (parent && getppid() != parent && !line.heap.count) {
                result = Py_NewRef(Py_None);
                goto done;
            }
        }
        send_due(&line, now + line.early);
        if (ring ? read_ring(&line) : read_batch(&line)) continue;
        if (wait_for_work(&line, next_refresh) < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            goto done;
        }
    }
done:
    refresh(&line, now_ns());
    close_line(&line);
    PyBuffer_Release(&stats);
    return result;
}

static PyMethodDef methods[] = {
    {"forward", (PyCFunction)(void (*)(void))forward, METH_VARARGS | METH_KEYWORDS,
     "Forward frames from rx to tx, delayed, until a signal handler raises."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_delayline", "The delay line's forwarding loop in C.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__delayline(void) {
    PyObject *created = PyModule_Create(&module);
    if (!created) return NULL;
    if (PyModule_AddIntConstant(created, "STATS_WORDS", STATS_WORDS) < 0 ||
        PyModule_AddIntConstant(created, "STATS_FIELDS", ST_FIELDS) < 0 ||
        PyModule_AddIntConstant(created, "STATS_HISTOGRAM", ST_HISTOGRAM) < 0 ||
        PyModule_AddIntConstant(created, "STATS_VERSION", STATS_VERSION) < 0) {
        Py_DECREF(created);
        return NULL;
    }
    return created;
}
