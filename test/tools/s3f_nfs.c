/*
 * s3f_nfs.c — test tool: the few NFS operations the host-side suites need and
 * libnfs-utils (nfs-ls, nfs-cp, nfs-cat) does not offer, over libnfs's user-space NFS
 * client (no kernel NFS client on the host).
 *
 *   s3f_nfs rm URL       remove a file
 *   s3f_nfs rmdir URL    remove an empty directory
 *   s3f_nfs mkdir URL    make a directory
 *
 * URL is libnfs's, e.g. nfs://127.0.0.1/s3files/d/x.txt?version=4&nfsport=2049.
 * Exit 0 on success, 1 with the NFS error on stderr, 2 on usage errors.
 */
#include <nfsc/libnfs.h>

#include <stdio.h>
#include <string.h>

static int usage(void)
{
	fprintf(stderr, "usage: s3f_nfs rm|rmdir|mkdir URL\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct nfs_context *nfs;
	struct nfs_url *url = NULL;
	const char *op;
	int rc = 1;

	if (argc != 3)
		return usage();
	op = argv[1];
	if (strcmp(op, "rm") != 0 && strcmp(op, "rmdir") != 0 && strcmp(op, "mkdir") != 0)
		return usage();
	nfs = nfs_init_context();
	if (!nfs) {
		fprintf(stderr, "s3f_nfs: no NFS context\n");
		return 1;
	}
	/* The parent directory is the mount point, the last component the name. */
	url = nfs_parse_url_full(nfs, argv[2]);
	if (!url || !url->server || !url->path || !url->file) {
		fprintf(stderr, "s3f_nfs: %s: %s\n", argv[2], nfs_get_error(nfs));
		goto out;
	}
	if (nfs_mount(nfs, url->server, url->path) != 0) {
		fprintf(stderr, "s3f_nfs: mount %s:%s: %s\n", url->server, url->path,
			nfs_get_error(nfs));
		goto out;
	}
	if (strcmp(op, "rm") == 0)
		rc = nfs_unlink(nfs, url->file);
	else if (strcmp(op, "rmdir") == 0)
		rc = nfs_rmdir(nfs, url->file);
	else
		rc = nfs_mkdir(nfs, url->file);
	if (rc) {
		fprintf(stderr, "s3f_nfs: %s %s: %s\n", op, url->file, nfs_get_error(nfs));
		rc = 1;
	}
out:
	if (url)
		nfs_destroy_url(url);
	nfs_destroy_context(nfs);
	return rc;
}
