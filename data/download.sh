# Sourced by the data/*/get_*.sh scripts, from their own folder.
#
# fetch URL FILE: writes what URL holds to FILE, with curl or else wget
# (a fresh Debian has curl, and no wget); fails where neither could.
#
# download FILE URL...: fetches FILE into the current folder from the first
# URL that gives it with the MD5 sum that MD5SUMS (in the same folder) lists
# for it; stops the script with a message naming the file, the sum and the
# URLs tried when none does.
fetch() {
    if command -v curl > /dev/null; then
        curl --fail --silent --show-error --location --output "$2" "$1"
    elif command -v wget > /dev/null; then
        wget --quiet --output-document="$2" "$1"
    else
        echo "$0: neither curl nor wget is installed" >&2
        return 1
    fi
}

download() {
    file=$1
    shift
    expected=$(grep -s " $file\$" MD5SUMS | cut -d' ' -f1)
    if [ -z "$expected" ]; then
        echo "$0: $(pwd)/MD5SUMS has no sum for $file" >&2
        exit 1
    fi
    for url in "$@"; do
        rm -f "$file"
        if fetch "$url" "$file"; then
            actual=$(md5sum < "$file" | cut -d' ' -f1)
            [ "$actual" = "$expected" ] && return 0
            echo "$url: MD5 $actual, expected $expected" >&2
        fi
    done
    rm -f "$file"
    echo "$0: no URL gave $file with MD5 $expected (tried: $*)" >&2
    exit 1
}
