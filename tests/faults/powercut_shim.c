/* Power-cut simulator (LD_PRELOAD): what a disk holds after a power cut is, at worst, each file as
 * it was at its last fsync. Every fsync/fdatasync of a regular file under $POWERCUT_WATCH copies the
 * file to $POWERCUT_SNAP/<name>; after killing the process, the snapshot folder is what survives.
 * Deleting a file is taken as durable at once (its snapshot goes too), as a journalling file system
 * commits metadata in order. (Worst case for contents: a real disk may also keep writes that were
 * never synced. Folder fsyncs are not modelled: a file that was fsynced counts as present.) */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void snapshot(int fd) {
    const char *watch = getenv("POWERCUT_WATCH"), *snap = getenv("POWERCUT_SNAP");
    char link[64], path[PATH_MAX], target[PATH_MAX], tmp[PATH_MAX + 8], buf[1 << 16];
    struct stat st;
    if (!watch || !snap || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return;
    path[n] = 0;
    if (strncmp(path, watch, strlen(watch)) != 0) return;
    const char *name = strrchr(path, '/');
    snprintf(target, sizeof target, "%s%s", snap, name);
    snprintf(tmp, sizeof tmp, "%s.part", target);
    int in = open(path, O_RDONLY), out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in >= 0 && out >= 0) {
        ssize_t r;
        while ((r = read(in, buf, sizeof buf)) > 0) write(out, buf, (size_t)r);
    }
    if (in >= 0) close(in);
    if (out >= 0) { close(out); rename(tmp, target); }
}

static void forget(const char *path) {
    const char *watch = getenv("POWERCUT_WATCH"), *snap = getenv("POWERCUT_SNAP");
    char target[PATH_MAX];
    if (!watch || !snap || !path || strncmp(path, watch, strlen(watch)) != 0) return;
    const char *name = strrchr(path, '/');
    snprintf(target, sizeof target, "%s%s", snap, name ? name : "/");
    int (*real)(const char *) = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
    real(target);
}

int unlink(const char *path) {
    static int (*real)(const char *);
    if (!real) real = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
    int rc = real(path);
    if (rc == 0) forget(path);
    return rc;
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    int rc = real(fd);
    if (rc == 0) snapshot(fd);
    return rc;
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    int rc = real(fd);
    if (rc == 0) snapshot(fd);
    return rc;
}
