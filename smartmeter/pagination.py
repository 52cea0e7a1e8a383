"""Pagination that keeps list bodies as plain JSON arrays.

The body stays the array clients already parse; the total and the neighbour
pages travel in headers (`X-Total-Count`, RFC 8288 `Link`), as GitHub's API does.
"""

from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response


class HeaderPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_paginated_response(self, data):
        links = []
        if self.get_next_link():
            links.append(f'<{self.get_next_link()}>; rel="next"')
        if self.get_previous_link():
            links.append(f'<{self.get_previous_link()}>; rel="prev"')
        headers = {"X-Total-Count": str(self.page.paginator.count)}
        if links:
            headers["Link"] = ", ".join(links)
        return Response(data, headers=headers)

    def get_paginated_response_schema(self, schema):
        return schema


def paginate(*, request, view, queryset, serializer_class):
    paginator = HeaderPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)
