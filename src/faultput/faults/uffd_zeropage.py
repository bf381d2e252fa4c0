"""uffd-zeropage: missing-page reads resolved in user space with UFFDIO_ZEROPAGE."""

from .uffd import UserFault


class UserFaultZeroPage(UserFault):
    name = "uffd-zeropage"
    summary = ("read of anonymous memory registered with userfaultfd: the native handler thread "
               "resolves each fault by mapping the zero page (UFFDIO_ZEROPAGE)")
    touch = "read"
    copy = False
    resident_pages_per_page = 0.0


FAULT_TYPE = UserFaultZeroPage()
