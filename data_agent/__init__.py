"""The data agent: one image, run per Docker target as the disk agent (`disks`) and the backup agent
(`backups`), and per Kubernetes tenant as its backup job (`k8s-job`). Stdlib and the Docker SDK only: the
image has Debian's python3 and python3-docker and nothing else of the program."""
