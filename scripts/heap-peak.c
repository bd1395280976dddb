// Counts the bytes malloc hands out and their peak: preloaded by scripts/heap-peak into
// `modelgraph bench`, which calls mg_mark once the plan is loaded, so the peak printed at exit is
// the forward passes' own (allocator fragmentation and retention, which RSS shows, left out).
// With HEAP_PEAK_ROWS=1 it also prints, after each row of the first pass (bench calls mg_row),
// the live bytes and the row's own peak above the mark — to set beside the memory walk's rows.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
static void *(*real_malloc)(size_t); static void (*real_free)(void*); static void *(*real_calloc)(size_t,size_t); static void *(*real_realloc)(void*,size_t);
static int (*real_memalign)(void**,size_t,size_t); static void *(*real_aligned)(size_t,size_t);
static _Atomic long live, peak, rowPeak;
static void upd(long d){ long v = atomic_fetch_add(&live,d)+d; long p=atomic_load(&peak); while(v>p && !atomic_compare_exchange_weak(&peak,&p,v)); long r=atomic_load(&rowPeak); while(v>r && !atomic_compare_exchange_weak(&rowPeak,&r,v)); }
// dlsym itself calls calloc before the real one is known: serve those from a static buffer
static char buf[1<<16]; static size_t bufpos;
static void init(void){ real_malloc=dlsym(RTLD_NEXT,"malloc"); real_free=dlsym(RTLD_NEXT,"free"); real_calloc=dlsym(RTLD_NEXT,"calloc"); real_realloc=dlsym(RTLD_NEXT,"realloc"); real_memalign=dlsym(RTLD_NEXT,"posix_memalign"); real_aligned=dlsym(RTLD_NEXT,"aligned_alloc");}
void *malloc(size_t n){ if(!real_malloc) init(); void*p=real_malloc(n); if(p) upd(malloc_usable_size(p)); return p;}
void *calloc(size_t a,size_t b){ if(!real_calloc){ void*p=buf+bufpos; bufpos+=(a*b+15)&~15; return p;} void*p=real_calloc(a,b); if(p) upd(malloc_usable_size(p)); return p;}
void free(void*p){ if(!p) return; if((char*)p>=buf && (char*)p<buf+sizeof buf) return; if(!real_free) init(); upd(-(long)malloc_usable_size(p)); real_free(p);}
void *realloc(void*p,size_t n){ if(!real_realloc) init(); long old=p?malloc_usable_size(p):0; void*q=real_realloc(p,n); if(q){upd(-old); upd(malloc_usable_size(q));} return q;}
int posix_memalign(void**r,size_t a,size_t n){ if(!real_memalign) init(); int e=real_memalign(r,a,n); if(!e) upd(malloc_usable_size(*r)); return e;}
void *aligned_alloc(size_t a,size_t n){ if(!real_aligned) init(); void*p=real_aligned(a,n); if(p) upd(malloc_usable_size(p)); return p;}
static long marked, lastRow = -1; static int rowsDone;
// the memory pass's figures per row (bench passes them before the first forward), printed beside the measured ones
static double estimatedLive[4096], estimatedPeak[4096]; static int estimated[4096];
void mg_estimate(long position, double live, double rowPeak){ if(position >= 0 && position < 4096){ estimatedLive[position]=live; estimatedPeak[position]=rowPeak; estimated[position]=1; } }
void mg_mark(void){ fprintf(stderr,"[peak] mark: live %.1f MB, peak so far %.1f MB\n", live/1e6, peak/1e6); atomic_store(&peak, live); atomic_store(&rowPeak, live); marked = live; }
void mg_row(long position){
    if(position <= lastRow) rowsDone = 1;
    lastRow = position;
    if(!rowsDone && getenv("HEAP_PEAK_ROWS")) {
        fprintf(stderr,"[peak] row %ld: live %.2f MB, row peak %.2f MB", position, (live-marked)/1e6, (rowPeak-marked)/1e6);
        if(position >= 0 && position < 4096 && estimated[position]) fprintf(stderr," (memory pass: live %.2f MB, row peak %.2f MB)", estimatedLive[position]/1e6, estimatedPeak[position]/1e6);
        fprintf(stderr,"\n");
    }
    atomic_store(&rowPeak, live);
}
__attribute__((destructor)) static void fin(void){ fprintf(stderr,"[peak] end: live %.1f MB, peak since mark %.1f MB\n", live/1e6, peak/1e6); }
