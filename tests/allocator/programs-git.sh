# programs-git.sh - the git workload of the real-programs test: init, add,
# commit and log in a temporary repository with a fixed author and dates.
set -eu
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export HOME="$dir" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=Rallo GIT_AUTHOR_EMAIL=rallo@example.org GIT_COMMITTER_NAME=Rallo
export GIT_COMMITTER_EMAIL=rallo@example.org
export GIT_AUTHOR_DATE='2020-01-02T03:04:05+0000' GIT_COMMITTER_DATE='2020-01-02T03:04:05+0000'
cd "$dir"
git init -q -b main repo
cd repo
for i in 1 2 3 4 5 6 7 8; do
  seq 1 $((i * 500)) > "file$i.txt"
  mkdir -p "dir$i"
  printf 'content %s\n' "$i" > "dir$i/note"
  git add .
  git commit -q -m "commit number $i"
done
git mv file1.txt moved.txt
git commit -q -m "a rename"
git log --format='%H %an %ad %s' --date=iso --stat
git rev-parse HEAD
git cat-file -p HEAD^{tree}
git gc -q
git count-objects -v | grep -v size
